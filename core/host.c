/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The struct scnpm_host each module borrows: logging tagged with the module's name,
 * the module's command-line options, emit() and resync() for sources, report() for sinks
 * and health_put() for a module's health() ("scnpm status").
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "manager.h"

static struct module *host_to_module(const struct scnpm_host *h)
{
	return container_of(h, struct module, host);
}

static void host_log(const struct scnpm_host *h, int prio, int error, const char *fmt, ...)
{
	struct module *mod = host_to_module(h);
	va_list ap;

	if (prio < LOG_EMERG || prio > LOG_DEBUG)
		prio = LOG_WARNING;
	va_start(ap, fmt);
	(void)log_internalv(prio, error, mod->name, NULL, NULL, 0, NULL, fmt, ap);
	va_end(ap);
}

static const char *host_option(const struct scnpm_host *h, const char *key)
{
	return key ? module_option(host_to_module(h), key) : NULL;
}

static int host_emit(const struct scnpm_host *h, const struct scnpm_event *ev)
{
	struct module *mod = host_to_module(h);

	if (!mod->desc || mod->desc->kind != SCNPM_MODULE_SOURCE) {
		log_warning("%s: emit() called by a module that is not a source, ignoring", mod->name);
		return -EPERM;
	}
	return manager_handle_event(mod->manager, mod, ev);
}

static void host_resync(const struct scnpm_host *h)
{
	struct module *mod = host_to_module(h);

	if (!mod->desc || mod->desc->kind != SCNPM_MODULE_SOURCE) {
		log_warning("%s: resync() called by a module that is not a source, ignoring", mod->name);
		return;
	}
	manager_want_resync(mod->manager, mod);
}

static void host_report(const struct scnpm_host *h, const struct scnpm_rule *rule,
			const struct scnpm_event *unit, uint32_t result, const char *fmt, ...)
{
	struct module *mod = host_to_module(h);
	char msg[2048] = "";
	va_list ap;

	if (!mod->desc || mod->desc->kind != SCNPM_MODULE_SINK || !rule) {
		log_warning("%s: report() called by a module that is not a sink or without a rule, ignoring",
			    mod->name);
		return;
	}
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	manager_handle_report(mod->manager, mod, rule, unit, result, msg);
}

static bool health_key_is_valid(const char *key)
{
	size_t n = key ? strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_") : 0;

	return n > 0 && n < 64 && key[n] == '\0';
}

static void host_health_put(const struct scnpm_host *h, const char *key, uint64_t value)
{
	struct module *mod = host_to_module(h);
	struct manager *m = mod->manager;

	if (m->health_module != mod || !m->health_put) {
		log_debug("%s: health_put() outside health(), ignoring", mod->name);
		return;
	}
	if (!health_key_is_valid(key)) {
		log_debug("%s: health_put() with an invalid key, ignoring", mod->name);
		return;
	}
	m->health_put(m->health_userdata, key, value);
}

void host_setup(struct module *mod, struct manager *m)
{
	mod->manager = m;
	mod->host = (struct scnpm_host){
		.abi = SCNPM_MODULE_ABI,
		.size = sizeof(struct scnpm_host),
		.event = m->event,
		.module_name = mod->name,
		.log = host_log,
		.option = host_option,
		.emit = host_emit,
		.report = host_report,
		.health_put = host_health_put,
		.resync = host_resync,
	};
}
