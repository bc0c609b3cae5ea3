/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Finding, opening and checking modules. A module is scnpm-<kind>-<name>.so in one of the
 * directories of the module search path; it must export SCNPM_MODULE_SYMBOL with a
 * descriptor of our ABI major, of the kind asked for, naming itself as asked, and must
 * not be writable by anyone but root or the daemon's owner (a module runs with the
 * daemon's privileges, CAP_NET_ADMIN among them).
 */

#include <stdbool.h>
#include <stdint.h>

#include <scnpm/module.h>

struct manager;

struct module {
	struct scnpm_host host;		/* lent to the module */
	struct manager *manager;
	char *name;			/* "sink-nft" */
	char *path;
	void *dl;
	int fd;				/* the checked file, open while loaded */
	const struct scnpm_module *desc;
	char **options;			/* "key=value" */
	void *state;
	bool initialized;
};

/* The directories to search: dir if given, else $SCNPM_MODULE_DIR (a colon-separated
 * list), else the compiled-in module directory. */
const char *module_search_path(const char *dir);

/* Parse "NAME[:KEY=VALUE[,KEY=VALUE...]]", find and check the module. On failure
 * returns -errno and sets *ret_error to one line naming the file and the reason. */
int module_load(const char *search_path, uint32_t kind, const char *spec, struct module **ret,
		char **ret_error);

/* The checks of a descriptor d found in the file path, asked for as kind and name
 * ("source-journal"): ABI, size, kind, the members every module (and every sink) must
 * have, its own name. 0, or -errno with one line naming path in *ret_error. Does not
 * read beyond the members of ABI 1.0, and those only once d->size says they are there. */
int module_check_descriptor(const struct scnpm_module *d, uint32_t kind, const char *name,
			    const char *path, char **ret_error);

/* Calls done() if the module was initialized, then unloads it. Accepts NULL. */
struct module *module_free(struct module *m);

const char *module_kind_to_string(uint32_t kind);

/* The value of option key, "" for a bare key, NULL if not given. */
const char *module_option(const struct module *m, const char *key);
