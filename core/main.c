/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scnpm: keeps nftables "socket cgroupv2" rules pointing at the live cgroups of systemd
 * units. This file is the command line and the process lifecycle: parse options, load
 * modules, read the configuration, start, run the sd-event loop, reload on SIGHUP.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include <scnpm/cgroup2.h>
#include <scnpm/unit-name.h>

#include "gate.h"
#include "instance-lock.h"
#include "loader.h"
#include "log.h"
#include "manager.h"
#include "status-client.h"
#include "status.h"
#include "util.h"

#define EXIT_USAGE 2

static char **arg_sources;
static char **arg_sinks;
static bool arg_default_sources, arg_default_sinks, arg_check;
static const char *arg_module_dir;
static char *arg_cgroup_root;
static struct manager_options arg_opt = { .cooldown_usec = 300 * USEC_PER_MSEC };

static void help(void)
{
	printf("Usage: %s [OPTIONS] [NFT-CONFIG...]\n"
	       "       %s status [--json] [PATTERN|UNIT...]   (see %s status --help)\n"
	       "\n"
	       "Keep nftables \"socket cgroupv2\" rules pointing at the live cgroups of systemd\n"
	       "units. Rules are read from comment lines in nftables configs:\n"
	       "    # postfix.service :: add rule inet filter out socket cgroupv2 level 2 \\\n"
	       "    #   \"system.slice/postfix.service\" tcp dport 25 accept\n"
	       "\n"
	       "Options:\n"
	       "  -f --flush                    Flush every chain a rule names at start\n"
	       "  -c --cooldown=MS              Coalesce events per unit within MS (default 300)\n"
	       "  -u --reload-with-unit=UNIT    Re-read configs, re-apply all on UNIT's events\n"
	       "  -a --reapply-with-unit=UNIT   Re-apply all rules on UNIT's events\n"
	       "     --source=NAME[:KEY=VAL,..] Load source module NAME (default: cgroupfs)\n"
	       "     --sink=NAME[:KEY=VAL,..]   Load sink module NAME (default: nft and nftnl)\n"
	       "     --module-dir=DIR[:DIR..]   Where modules live (default %s)\n"
	       "     --cgroup-root=DIR          The cgroup2 mount (default: found in mountinfo)\n"
	       "     --gate-deadline=TIME       Thaw a gated unit after TIME at the latest\n"
	       "                                (default 250ms; 200ms, 1s, bare: ms)\n"
	       "  -d --debug                    Log debug messages (same as --log-level=debug)\n"
	       "     --log-level=LEVEL          err, warning, notice (default), info (default\n"
	       "                                under journald: a unit's history), debug\n"
	       "  -q --quiet                    Log only warnings and errors\n"
	       "     --check                    Check the configs and exit: 0 clean, 1 errors;\n"
	       "                                every mistake as FILE:LINE, rules dry-run by\n"
	       "                                nftables; never changes the ruleset\n"
	       "  -h --help                     Show this help\n"
	       "     --version                  Show the version\n"
	       "\n"
	       "'status' asks the running daemon over %s/%s (Varlink, io.scnpm.Manager):\n"
	       "what is applied for which unit, read back from the kernel.\n"
	       "Signals: SIGHUP re-reads the configs; SIGUSR1 logs the status line;\n"
	       "SIGTERM/SIGINT exit, rules stay in place.\n"
	       "Exit status: 0 success, 1 runtime or configuration error, 2 usage error.\n"
	       "See scnpm(8).\n",
	       program_invocation_short_name, program_invocation_short_name,
	       program_invocation_short_name, SCNPM_MODULE_DIR, "/run/scnpm", STATUS_SOCKET_NAME);
}

enum {
	ARG_SOURCE = 0x100,
	ARG_SINK,
	ARG_MODULE_DIR,
	ARG_CGROUP_ROOT,
	ARG_GATE_DEADLINE,
	ARG_LOG_LEVEL,
	ARG_VERSION,
	ARG_CHECK,
};

/* 0 to go on, 1 to exit 0 (help, version), -EINVAL for a usage error (logged). */
static int parse_argv(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "flush", no_argument, NULL, 'f' },
		{ "cooldown", required_argument, NULL, 'c' },
		{ "reload-with-unit", required_argument, NULL, 'u' },
		{ "reapply-with-unit", required_argument, NULL, 'a' },
		{ "source", required_argument, NULL, ARG_SOURCE },
		{ "sink", required_argument, NULL, ARG_SINK },
		{ "module-dir", required_argument, NULL, ARG_MODULE_DIR },
		{ "cgroup-root", required_argument, NULL, ARG_CGROUP_ROOT },
		{ "gate-deadline", required_argument, NULL, ARG_GATE_DEADLINE },
		{ "debug", no_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "check", no_argument, NULL, ARG_CHECK },
		{}
	};
	bool debug = false;
	uint64_t ms;
	int c, r;

	while ((c = getopt_long(argc, argv, "fc:u:a:dqh", options, NULL)) >= 0) {
		switch (c) {
		case 'f':
			arg_opt.flush = true;
			break;
		case 'c':
			r = safe_atou64(optarg, &ms);
			if (r < 0 || ms > 3600 * 1000)
				return log_error_errno(-EINVAL,
						       "Invalid --cooldown '%s': expected milliseconds, 0 to 3600000",
						       optarg);
			arg_opt.cooldown_usec = ms * USEC_PER_MSEC;
			break;
		case ARG_GATE_DEADLINE:
			r = parse_duration_usec(optarg, &arg_opt.gate_deadline_usec);
			if (r < 0 || arg_opt.gate_deadline_usec == 0 ||
			    arg_opt.gate_deadline_usec > GATE_DEADLINE_MAX_USEC)
				return log_error_errno(-EINVAL,
						       "Invalid --gate-deadline '%s': expected a time from 1us to 60s (200ms, 1s)",
						       optarg);
			break;
		case 'u':
		case 'a':
			if (!scnpm_unit_name_is_valid(optarg))
				return log_error_errno(-EINVAL, "Invalid unit name for -%c: '%s'", c, optarg);
			r = strv_push(c == 'u' ? &arg_opt.reload_units : &arg_opt.reapply_units, optarg);
			if (r < 0)
				return log_oom();
			break;
		case ARG_SOURCE:
		case ARG_SINK:
			r = strv_push(c == ARG_SOURCE ? &arg_sources : &arg_sinks, optarg);
			if (r < 0)
				return log_oom();
			break;
		case ARG_MODULE_DIR:
			arg_module_dir = optarg;
			break;
		case ARG_CGROUP_ROOT:
			if (*optarg != '/')
				return log_error_errno(-EINVAL, "Invalid --cgroup-root '%s': expected an absolute path",
						       optarg);
			free(arg_cgroup_root);
			arg_cgroup_root = strdup(optarg);
			if (!arg_cgroup_root)
				return log_oom();
			break;
		case 'd':
			debug = true;
			break;
		case 'q':
			if (!debug)
				log_set_max_level(LOG_WARNING);
			break;
		case ARG_LOG_LEVEL:
			r = log_level_from_string(optarg);
			if (r < 0)
				return log_error_errno(-EINVAL, "Invalid --log-level '%s'", optarg);
			log_set_max_level(r);
			break;
		case 'h':
			help();
			return 1;
		case ARG_CHECK:
			arg_check = true;
			break;
		case ARG_VERSION:
			printf("scnpm %s (module ABI %d)\n", SCNPM_VERSION, SCNPM_MODULE_ABI);
			return 1;
		case '?':
			return -EINVAL; /* getopt printed why */
		default:
			return log_error_errno(-EINVAL, "Unhandled option");
		}
	}
	if (debug)
		log_set_max_level(LOG_DEBUG);

	for (int i = optind; i < argc; i++)
		if (strv_push(&arg_opt.config_files, argv[i]) < 0)
			return log_oom();
	/* The defaults are what measures best (docs/benchmarks.md): the cgroup source sees
	 * a unit's cgroup before its first process runs, and both sinks, each taking the
	 * directives it can express. A default module that is not installed (distributions
	 * package them separately) is left out, with a notice. */
	if (!arg_sources) {
		arg_default_sources = true;
		if (strv_push(&arg_sources, "cgroupfs") < 0)
			return log_oom();
	}
	if (!arg_sinks) {
		arg_default_sinks = true;
		if (strv_push(&arg_sinks, "nft") < 0 || strv_push(&arg_sinks, "nftnl") < 0)
			return log_oom();
	}
	return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	(void)manager_reload(userdata, false);
	return 0;
}

static int on_sigusr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	manager_log_status(userdata);
	return 0;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	log_debug("Received %s, exiting", strsignal((int)si->ssi_signo));
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int load_modules(struct manager *m)
{
	const char *path = module_search_path(arg_module_dir);
	int r;

	for (unsigned pass = 0; pass < 2; pass++) {
		uint32_t kind = pass == 0 ? SCNPM_MODULE_SOURCE : SCNPM_MODULE_SINK;
		bool defaults = pass == 0 ? arg_default_sources : arg_default_sinks;
		unsigned loaded = 0;

		STRV_FOREACH(spec, pass == 0 ? arg_sources : arg_sinks) {
			_cleanup_free_ char *error = NULL;
			struct module *mod;

			r = module_load(path, kind, *spec, &mod, &error);
			if (r == -ENOENT && defaults && (loaded > 0 || *(spec + 1))) {
				log_notice("Default %s module '%s' is not installed (package scnpm-%s-%s), "
					   "going on without it",
					   module_kind_to_string(kind), *spec, module_kind_to_string(kind),
					   *spec);
				if (kind == SCNPM_MODULE_SINK) {
					_cleanup_free_ char *name = NULL;

					if (asprintf(&name, "sink-%s (package scnpm-sink-%s)", *spec,
						     *spec) < 0 ||
					    strv_push(&m->missing_sinks, name) < 0)
						return log_oom();
				}
				continue;
			}
			if (r < 0) {
				if (error)
					log_error("%s", error);
				else
					log_error_errno(r, "Failed to load %s '%s': %m",
							module_kind_to_string(kind), *spec);
				return r;
			}
			log_debug("Loaded %s from %s", mod->name, mod->path);
			r = manager_add_module(m, mod);
			if (r < 0)
				return r;
			loaded++;
		}
	}
	return 0;
}

/* The control socket for "scnpm status"; the daemon runs on without it. */
static struct varlink_server *status_serve(struct manager *m)
{
	_cleanup_free_ char *path = NULL;
	struct varlink_server *s = NULL;
	int r;

	if (asprintf(&path, "%s/%s", runtime_dir(), STATUS_SOCKET_NAME) < 0) {
		log_oom();
		return NULL;
	}
	r = status_server_new(m, path, &s);
	if (r < 0) {
		log_warning_errno(r, "Cannot serve %s%s, 'scnpm status' will not work: %m", path,
				  r == -EADDRINUSE ? " (another scnpm answers there)" : "");
		return NULL;
	}
	log_debug("Serving io.scnpm.Manager on %s", path);
	return s;
}

static int run(int argc, char *argv[])
{
	_cleanup_(sd_event_unrefp) sd_event *e = NULL;
	struct varlink_server *varlink = NULL;
	struct manager *m = NULL;
	sigset_t mask;
	int r;

	r = parse_argv(argc, argv);
	if (r != 0)
		return r < 0 ? EXIT_USAGE : EXIT_SUCCESS;

	if (!arg_cgroup_root) {
		r = scnpm_cgroup2_find_root(&arg_cgroup_root);
		if (r < 0) {
			log_error_errno(r, "Cannot find the cgroup2 mount in /proc/self/mountinfo%s: %m",
					r == -ENOENT ? " (none is mounted; pass --cgroup-root=DIR)" : "");
			return EXIT_FAILURE;
		}
	}
	arg_opt.cgroup_root = arg_cgroup_root;

	r = sd_event_default(&e);
	if (r < 0) {
		log_error_errno(r, "Failed to allocate event loop: %m");
		return EXIT_FAILURE;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	r = manager_new(e, &arg_opt, &m);
	if (r < 0) {
		log_oom();
		return EXIT_FAILURE;
	}

	/* Everything that can be checked without touching nftables comes first. */
	r = load_modules(m);
	if (r == -ENOENT || r == -EINVAL) {
		/* a module name or option on the command line that does not exist */
		manager_free(m);
		return EXIT_USAGE;
	}
	if (arg_check) {
		if (r >= 0)
			r = manager_check(m);
		if (r >= 0)
			printf("%s: %zu directive%s%s\n", "Configuration OK", m->config->n_rules,
			       m->config->n_rules == 1 ? "" : "s",
			       r == 0 ? " (syntax only: the sinks could not be initialized here)" : "");
		goto finish;
	}
	if (r >= 0)
		r = manager_load_config(m);
	if (r >= 0 && m->config->n_rules == 0)
		manager_warn_no_directives(m);
	/* Held (fd left open) until we exit. */
	if (r >= 0 && instance_lock_take() == -EBUSY)
		r = -EBUSY;
	if (r >= 0)
		r = manager_start(m);
	if (r < 0)
		goto finish;

	r = sd_event_add_signal(e, NULL, SIGHUP, on_sighup, m);
	if (r >= 0)
		r = sd_event_add_signal(e, NULL, SIGTERM, on_exit_signal, NULL);
	if (r >= 0)
		r = sd_event_add_signal(e, NULL, SIGINT, on_exit_signal, NULL);
	if (r >= 0)
		r = sd_event_add_signal(e, NULL, SIGUSR1, on_sigusr1, m);
	if (r < 0) {
		log_error_errno(r, "Failed to set up signal handling: %m");
		goto finish;
	}
	(void)sd_event_set_watchdog(e, true);

	/* Sinks may send what the initial reconcile queued from the loop (sink-nftnl
	 * batches its netlink messages there, and reads the kernel's acks): let them, as
	 * long as there is work that is due now, before telling systemd we are ready. */
	for (unsigned i = 0; i < 4096; i++) {
		r = sd_event_run(e, 0);
		if (r <= 0)
			break;
	}
	if (sd_event_get_state(e) == SD_EVENT_FINISHED) {
		r = 0;
		goto finish;
	}
	/* The rules are in now: what an earlier scnpm froze and did not thaw (it crashed)
	 * may run. */
	r = gate_recover(m);
	if (r < 0)
		log_warning_errno(r, "Cannot look for cgroups an earlier scnpm left frozen, ignoring: %m");

	/* Only now: an answer before the initial reconcile went out would report what is
	 * merely on its way as not enforced. A call made meanwhile on the socket a socket
	 * unit passed waits in its backlog. */
	varlink = status_serve(m);
	if (!arg_opt.config_files)
		log_warning("No configuration files given: there are no rules to keep");
	(void)sd_notify(false, "READY=1");
	manager_notify_status_now(m);
	log_info("Running: %zu rules", m->config->n_rules);

	r = sd_event_loop(e);
	if (r < 0)
		log_error_errno(r, "Event loop failed: %m");
	else
		(void)sd_notify(false, "STOPPING=1");

finish:
	varlink_server_free(varlink);
	manager_free(m);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char *argv[])
{
	int ret;

	if (argc > 1 && streq(argv[1], "status"))
		return status_main(argc - 1, argv + 1);
	ret = run(argc, argv);

	strv_free(arg_sources);
	strv_free(arg_sinks);
	strv_free(arg_opt.config_files);
	strv_free(arg_opt.reload_units);
	strv_free(arg_opt.reapply_units);
	free(arg_cgroup_root);
	return ret;
}
