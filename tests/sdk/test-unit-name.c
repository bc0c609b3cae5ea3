/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SDK's unit-name and cgroup-path validation, and template expansion: the gate every
 * name from a source passes before any of it can reach rule text. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <scnpm/template.h>
#include <scnpm/unit-name.h>

Test(unit_name, valid)
{
	static const char *const ok[] = {
		"postfix.service", "user@1000.service", "getty@.service", "app-firefox-1234.scope",
		"run-u42.service", "system.slice", "dev-disk-by\\x2duuid-1234.device",
		"sys-devices-pci0000:00.device", "a.socket", "x.mount", "x.automount", "x.swap",
		"x.timer", "x.path", "x.target", "A_b-c.service", "foo@bar.baz.service",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_assert(scnpm_unit_name_is_valid(ok[i]), "%s", ok[i]);
}

Test(unit_name, hostile_and_invalid)
{
	char long_name[300];
	static const char *const bad[] = {
		"", "service", ".service", "a.", "a.servicex", "a.SERVICE", "a b.service",
		"a\".service", "a'.service", "a;b.service", "a{.service", "a}.service",
		"a\n.service", "a\t.service", "../a.service", "a/b.service", "@a.service",
		"a@b@c.service", "a.service@x", "x\";add rule inet f c accept;.scope", "$a.service",
		"a.service\n", "a*.service", "..", ".", "a\\\".service",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(not(scnpm_unit_name_is_valid(bad[i])), "'%s' must be invalid", bad[i]);
	cr_assert(not(scnpm_unit_name_is_valid(NULL)));

	/* 255 characters is the limit */
	memset(long_name, 'a', sizeof(long_name));
	strcpy(long_name + 255 - strlen(".service"), ".service");
	cr_assert(eq(sz, strlen(long_name), 255));
	cr_assert(scnpm_unit_name_is_valid(long_name));
	memset(long_name, 'a', sizeof(long_name));
	strcpy(long_name + 256 - strlen(".service"), ".service");
	cr_assert(not(scnpm_unit_name_is_valid(long_name)));
}

Test(cgroup_path, levels)
{
	cr_assert(eq(u32, scnpm_cgroup_path_level("system.slice/postfix.service"), 2));
	cr_assert(eq(u32, scnpm_cgroup_path_level(
				  "user.slice/user-1000.slice/user@1000.service/app.slice/app-mail.scope"),
		     5));
	cr_assert(eq(u32, scnpm_cgroup_path_level("init.scope"), 1));
	static const char *const bad[] = {
		"", "/system.slice", "system.slice/", "system.slice//a.service", "system.slice/../a.service",
		"system.slice/./a.service", "system.slice/x\";add.service", "system.slice/a b.service",
		"user.slice/notaunit/a.scope",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(eq(u32, scnpm_cgroup_path_level(bad[i]), 0), "'%s' must be refused", bad[i]);
	cr_assert(eq(u32, scnpm_cgroup_path_level(NULL), 0));
}

Test(template, expand)
{
	struct scnpm_event ev = {
		.size = sizeof(ev),
		.unit = "app-mail.scope",
		.manager = SCNPM_MANAGER_USER,
		.uid = 1000,
		.cgroup_path = "user.slice/user-1000.slice/user@1000.service/app.slice/app-mail.scope",
	};
	char *out = NULL;

	cr_assert(scnpm_template_has_placeholders("a %{unit} b"));
	cr_assert(not(scnpm_template_has_placeholders("socket cgroupv2 level 2 \"x\" @set {a}")));
	cr_assert(eq(int, scnpm_template_expand("add rule inet f c socket cgroupv2 level %{level} %{cgroup} meta mark set 1 comment %{unit} accept", &ev, &out), 0));
	cr_assert(eq(str, out, "add rule inet f c socket cgroupv2 level 5 \"user.slice/user-1000.slice/user@1000.service/app.slice/app-mail.scope\" meta mark set 1 comment \"app-mail.scope\" accept"));
	free(out);

	/* no placeholders: the text as it is */
	cr_assert(eq(int, scnpm_template_expand("add rule ip t c accept", &ev, &out), 0));
	cr_assert(eq(str, out, "add rule ip t c accept"));
	free(out);

	/* a cgroup is needed but not known */
	ev.cgroup_path = NULL;
	cr_assert(eq(int, scnpm_template_expand("x %{cgroup}", &ev, &out), -ENODATA));
	cr_assert(eq(int, scnpm_template_expand("x %{unit}", &ev, &out), 0));
	free(out);

	/* strings that did not pass validation never get in */
	ev.cgroup_path = "user.slice/x\";add rule ip t c accept;\".scope";
	cr_assert(eq(int, scnpm_template_expand("x %{cgroup}", &ev, &out), -EINVAL));
	ev.unit = "x\".scope";
	cr_assert(eq(int, scnpm_template_expand("x %{unit}", &ev, &out), -EINVAL));
}
