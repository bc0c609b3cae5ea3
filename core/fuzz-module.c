/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Module files: the loader's checks before and after dlopen(), without loading
 * anything. The input is a file image: its ELF header and program headers go through
 * the checks module_elf_check_fd() makes (module_elf_check_header(), then
 * module_elf_check_phdrs() on the table it accepted, against the input's size). The
 * input's first bytes also make a module descriptor (ABI, size, kind, which members are
 * set, the name it calls itself) for module_check_descriptor(), which must refuse with
 * one line naming the file, or accept only what the loader may call.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/module.h>

#include "fuzz.h"
#include "loader.h"
#include "macro.h"
#include "module-check.h"

static int dummy_init(const struct scnpm_host *h, void **ret_state)
{
	return -ENOSYS;
}

static void dummy_done(void *state)
{
}

static int dummy_rule_add(void *state, const struct scnpm_rule *rule)
{
	return -ENOSYS;
}

static void dummy_rule_remove(void *state, const struct scnpm_rule *rule)
{
}

static int dummy_apply(void *state, const struct scnpm_event *unit,
		       const struct scnpm_rule *const *rules, size_t n_rules)
{
	return -ENOSYS;
}

static void check_elf(const uint8_t *data, size_t size)
{
	ElfW(Ehdr) eh = {};
	ElfW(Phdr) * ph;
	char why[256];

	memcpy(&eh, data, size < sizeof(eh) ? size : sizeof(eh));
	if (module_elf_check_header(&eh, size, why, sizeof(why)) < 0) {
		if (!why[0])
			abort();
		return;
	}
	/* accepted: the table lies within the input */
	if (eh.e_phoff > size || eh.e_phnum * sizeof(*ph) > size - eh.e_phoff)
		abort();
	ph = malloc(eh.e_phnum * sizeof(*ph));
	if (!ph)
		return;
	memcpy(ph, data + eh.e_phoff, eh.e_phnum * sizeof(*ph));
	why[0] = '\0';
	if (module_elf_check_phdrs(ph, eh.e_phnum, size, why, sizeof(why)) < 0 && !why[0])
		abort();
	free(ph);
}

static void check_descriptor(const uint8_t *data, size_t size)
{
	struct scnpm_module d = {};
	_cleanup_free_ char *name = NULL, *error = NULL;
	uint32_t kind;
	uint8_t set;
	int r;

	/* abi, size, kind (4 bytes each), then which members are set, then the name */
	if (size < 13)
		return;
	memcpy(&d.abi, data, 4);
	memcpy(&d.size, data + 4, 4);
	memcpy(&d.kind, data + 8, 4);
	set = data[12];
	name = strndup((const char *)data + 13, size - 13);
	if (!name)
		return;
	d.name = set & 1 ? name : NULL;
	d.init = set & 2 ? dummy_init : NULL;
	d.done = set & 4 ? dummy_done : NULL;
	d.rule_add = set & 8 ? dummy_rule_add : NULL;
	d.rule_remove = set & 16 ? dummy_rule_remove : NULL;
	d.apply = set & 32 ? dummy_apply : NULL;
	d.flush = set & 64 ? dummy_rule_add : NULL;
	kind = set & 128 ? SCNPM_MODULE_SINK : SCNPM_MODULE_SOURCE;

	r = module_check_descriptor(&d, kind, kind == SCNPM_MODULE_SINK ? "sink-x" : "source-x",
				    "/fuzz/module.so", &error);
	if (r < 0) {
		if (!error || strncmp(error, "/fuzz/module.so: ", 17) != 0 || strchr(error, '\n'))
			abort();
		return;
	}
	/* accepted: everything the loader calls is there */
	if (d.abi != SCNPM_MODULE_ABI || d.kind != kind || !d.name || !d.init || !d.done)
		abort();
	if (kind == SCNPM_MODULE_SINK && (!d.rule_add || !d.rule_remove || !d.apply || !d.flush))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_elf(data, size);
	check_descriptor(data, size);
	return 0;
}
