/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pins the module ABI (include/scnpm/module.h): the size, offset and width of every
 * member of the public structs on x86_64, and the value of every public enum and
 * constant everywhere. A reorder, a retype or an insertion in the middle fails here.
 * Appending a member is the only allowed change: add its pin and raise the struct's
 * size in the same commit (rule 4 in module.h).
 */
#include <stddef.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

/* Every SDK header, together, as a module would include them. */
#include <scnpm/cleanup.h>
#include <scnpm/log.h>
#include <scnpm/module.h>
#include <scnpm/template.h>
#include <scnpm/unit-name.h>

#define member_size(type, member) sizeof(((type *)0)->member)

#define PIN(type, member, off, width)                                                             \
	do {                                                                                   \
		cr_expect(eq(sz, offsetof(type, member), (size_t)(off)),                       \
			  "offsetof(" #type ", " #member ") moved");                            \
		cr_expect(eq(sz, member_size(type, member), (size_t)(width)),                     \
			  "sizeof(" #type "::" #member ") changed");                            \
	} while (0)

#define PIN_SIZE(type, total) \
	cr_expect(eq(sz, sizeof(type), (size_t)(total)), "sizeof(" #type ") changed")

static void require_x86_64(void)
{
#if !(defined(__x86_64__) && defined(__LP64__))
	cr_skip_test("the layout is pinned for x86_64 only");
#endif
}

Test(abi, version)
{
	cr_assert(eq(int, SCNPM_MODULE_ABI, 1));
	cr_assert(eq(str, SCNPM_MODULE_SYMBOL, "scnpm_module_v1"));
}

Test(abi, scnpm_event)
{
	require_x86_64();
	PIN(struct scnpm_event, size, 0, 4);
	PIN(struct scnpm_event, change, 4, 4);
	PIN(struct scnpm_event, unit, 8, 8);
	PIN(struct scnpm_event, manager, 16, 4);
	PIN(struct scnpm_event, uid, 20, 4);
	PIN(struct scnpm_event, cgroup_path, 24, 8);
	PIN(struct scnpm_event, cgroup_id, 32, 8);
	PIN(struct scnpm_event, cgroup_level, 40, 4);
	PIN(struct scnpm_event, reserved, 44, 4);
	PIN(struct scnpm_event, timestamp, 48, 8);
	PIN_SIZE(struct scnpm_event, 56);
}

Test(abi, scnpm_rule)
{
	require_x86_64();
	PIN(struct scnpm_rule, size, 0, 4);
	PIN(struct scnpm_rule, object, 4, 4);
	PIN(struct scnpm_rule, unit, 8, 8);
	PIN(struct scnpm_rule, text, 16, 8);
	PIN(struct scnpm_rule, family, 24, 8);
	PIN(struct scnpm_rule, table, 32, 8);
	PIN(struct scnpm_rule, name, 40, 8);
	PIN(struct scnpm_rule, body, 48, 8);
	PIN(struct scnpm_rule, file, 56, 8);
	PIN(struct scnpm_rule, line, 64, 4);
	PIN(struct scnpm_rule, reserved, 68, 4);
	PIN_SIZE(struct scnpm_rule, 72);
}

Test(abi, scnpm_host)
{
	require_x86_64();
	PIN(struct scnpm_host, abi, 0, 4);
	PIN(struct scnpm_host, size, 4, 4);
	PIN(struct scnpm_host, event, 8, 8);
	PIN(struct scnpm_host, module_name, 16, 8);
	PIN(struct scnpm_host, log, 24, 8);
	PIN(struct scnpm_host, option, 32, 8);
	PIN(struct scnpm_host, emit, 40, 8);
	PIN(struct scnpm_host, report, 48, 8);
	PIN(struct scnpm_host, health_put, 56, 8);
	PIN(struct scnpm_host, resync, 64, 8);
	PIN_SIZE(struct scnpm_host, 72);
}

Test(abi, scnpm_module)
{
	require_x86_64();
	PIN(struct scnpm_module, abi, 0, 4);
	PIN(struct scnpm_module, size, 4, 4);
	PIN(struct scnpm_module, kind, 8, 4);
	PIN(struct scnpm_module, reserved, 12, 4);
	PIN(struct scnpm_module, name, 16, 8);
	PIN(struct scnpm_module, description, 24, 8);
	PIN(struct scnpm_module, options, 32, 8);
	PIN(struct scnpm_module, init, 40, 8);
	PIN(struct scnpm_module, start, 48, 8);
	PIN(struct scnpm_module, done, 56, 8);
	PIN(struct scnpm_module, rule_add, 64, 8);
	PIN(struct scnpm_module, rule_remove, 72, 8);
	PIN(struct scnpm_module, apply, 80, 8);
	PIN(struct scnpm_module, flush, 88, 8);
	PIN(struct scnpm_module, check, 96, 8);
	PIN(struct scnpm_module, inspect, 104, 8);
	PIN(struct scnpm_module, health, 112, 8);
	PIN_SIZE(struct scnpm_module, 120);
}

Test(abi, scnpm_inspect)
{
	require_x86_64();
	PIN(struct scnpm_inspect, size, 0, 4);
	PIN(struct scnpm_inspect, state, 4, 4);
	PIN(struct scnpm_inspect, cgroup_id, 8, 8);
	PIN(struct scnpm_inspect, handle, 16, 8);
	PIN(struct scnpm_inspect, packets, 24, 8);
	PIN(struct scnpm_inspect, bytes, 32, 8);
	PIN(struct scnpm_inspect, has_counter, 40, 4);
	PIN(struct scnpm_inspect, pending, 44, 4);
	PIN(struct scnpm_inspect, object, 48, 8);
	PIN_SIZE(struct scnpm_inspect, 56);
}

/* Enum values travel as uint32_t between separately built objects: they never change. */
Test(abi, enums)
{
	cr_expect(eq(int, SCNPM_MODULE_SOURCE, 1));
	cr_expect(eq(int, SCNPM_MODULE_SINK, 2));

	cr_expect(eq(int, SCNPM_MANAGER_ANY, 0));
	cr_expect(eq(int, SCNPM_MANAGER_SYSTEM, 1));
	cr_expect(eq(int, SCNPM_MANAGER_USER, 2));

	cr_expect(eq(int, SCNPM_UNIT_STARTED, 1));
	cr_expect(eq(int, SCNPM_UNIT_STOPPED, 2));
	cr_expect(eq(int, SCNPM_UNIT_CHANGED, 3));

	cr_expect(eq(int, SCNPM_OBJECT_RULE, 1));
	cr_expect(eq(int, SCNPM_OBJECT_ELEMENT, 2));

	cr_expect(eq(int, SCNPM_RESULT_APPLIED, 1));
	cr_expect(eq(int, SCNPM_RESULT_SKIPPED, 2));
	cr_expect(eq(int, SCNPM_RESULT_FAILED, 3));
	cr_expect(eq(int, SCNPM_RESULT_REFUSED, 4));
	cr_expect(eq(int, SCNPM_RESULT_RESTORED, 5));

	cr_expect(eq(int, SCNPM_KERNEL_UNKNOWN, 0));
	cr_expect(eq(int, SCNPM_KERNEL_PRESENT, 1));
	cr_expect(eq(int, SCNPM_KERNEL_ABSENT, 2));
}

/* SCNPM_HAS() is how a reader copes with an older, shorter struct. */
Test(abi, scnpm_has)
{
	struct scnpm_module m = { .size = offsetof(struct scnpm_module, flush) };
	struct scnpm_event ev = { .size = sizeof(struct scnpm_event) };

	cr_expect(eq(int, SCNPM_HAS(&m, struct scnpm_module, apply), 1));
	cr_expect(eq(int, SCNPM_HAS(&m, struct scnpm_module, flush), 0));
	m.size = sizeof(m);
	cr_expect(eq(int, SCNPM_HAS(&m, struct scnpm_module, flush), 1));
	cr_expect(eq(int, SCNPM_HAS(&ev, struct scnpm_event, timestamp), 1));
	ev.size = offsetof(struct scnpm_event, timestamp) + 4;
	cr_expect(eq(int, SCNPM_HAS(&ev, struct scnpm_event, timestamp), 0));
}
