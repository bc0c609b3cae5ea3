/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <stdlib.h>
#include <string.h>

#include "nft-cmd.h"

Test(nft_cmd, delete_and_flush_text)
{
	struct nft_buf b = {};

	cr_assert(eq(str, (char *)nft_buf_str(&b), ""));
	cr_assert(eq(int, nft_cmd_delete_rule(&b, "inet", "filter", "vpn.whitelist", 42), 0));
	cr_assert(eq(int, nft_cmd_flush_chain(&b, "ip6", "t", "c"), 0));
	cr_assert(eq(str, (char *)nft_buf_str(&b),
		     "delete rule inet filter vpn.whitelist handle 42\nflush chain ip6 t c\n"));
	nft_buf_reset(&b);
	cr_assert(eq(str, (char *)nft_buf_str(&b), ""));
	nft_buf_done(&b);
}

Test(nft_cmd, refuses_tokens_that_end_a_command)
{
	struct nft_buf b = {};

	cr_assert(eq(int, nft_cmd_delete_rule(&b, "inet", "t", "c;flush ruleset", 1), -EINVAL));
	cr_assert(eq(int, nft_cmd_delete_rule(&b, "inet", "t", "c\nflush", 1), -EINVAL));
	cr_assert(eq(int, nft_cmd_delete_rule(&b, "inet", "t x", "c", 1), -EINVAL));
	cr_assert(eq(int, nft_cmd_delete_rule(&b, "inet", "t", "c#", 1), -EINVAL));
	cr_assert(eq(int, nft_cmd_delete_rule(&b, "inet", "", "c", 1), -EINVAL));
	cr_assert(eq(int, nft_cmd_delete_rule(&b, "inet", "t", "c", 0), -EINVAL));
	cr_assert(eq(int, nft_cmd_flush_chain(&b, NULL, "t", "c"), -EINVAL));
	cr_assert(eq(sz, b.len, 0));
	nft_buf_done(&b);
}

Test(nft_cmd, add_text_one_command_only)
{
	struct nft_buf b = {};

	cr_assert(
	    eq(int,
	       nft_cmd_add_text(
		   &b, "add rule inet t c socket cgroupv2 level 2 \"a.slice/b;c.service\" accept"),
	       0));
	cr_assert(eq(str, (char *)nft_buf_str(&b),
		     "add rule inet t c socket cgroupv2 level 2 \"a.slice/b;c.service\" accept\n"));
	cr_assert(
	    eq(int, nft_cmd_add_text(&b, "add rule inet t c accept; flush ruleset"), -EINVAL));
	cr_assert(
	    eq(int, nft_cmd_add_text(&b, "add rule inet t c accept\nflush ruleset"), -EINVAL));
	cr_assert(eq(int, nft_cmd_add_text(&b, "add rule inet t c meta mark \"open"), -EINVAL));
	cr_assert(eq(int, nft_cmd_add_text(&b, ""), -EINVAL));
	nft_buf_done(&b);
}

Test(nft_cmd, buffer_grows)
{
	struct nft_buf b = {};

	for (int i = 0; i < 1000; i++)
		cr_assert(
		    eq(int, nft_cmd_delete_rule(&b, "inet", "table", "chain", (uint64_t)i + 1), 0));
	cr_assert(eq(sz, strlen(nft_buf_str(&b)), b.len));
	cr_assert(ne(ptr, strstr(nft_buf_str(&b), "handle 1000\n"), NULL));
	nft_buf_done(&b);
}

Test(nft_cmd, families)
{
	cr_assert(eq(int, nft_family_from_name("ip"), NFPROTO_IPV4));
	cr_assert(eq(int, nft_family_from_name("ip6"), NFPROTO_IPV6));
	cr_assert(eq(int, nft_family_from_name("inet"), NFPROTO_INET));
	cr_assert(eq(int, nft_family_from_name("arp"), NFPROTO_ARP));
	cr_assert(eq(int, nft_family_from_name("bridge"), NFPROTO_BRIDGE));
	cr_assert(eq(int, nft_family_from_name("netdev"), NFPROTO_NETDEV));
	cr_assert(eq(int, nft_family_from_name("inet6"), -EINVAL));
	cr_assert(eq(int, nft_family_from_name(NULL), -EINVAL));
}

Test(nft_cmd, unquote)
{
	char *s = NULL;

	cr_assert(eq(int, nft_name_unquote("filter", &s), 0));
	cr_assert(eq(str, s, "filter"));
	free(s);
	cr_assert(eq(int, nft_name_unquote("\"my chain\"", &s), 0));
	cr_assert(eq(str, s, "my chain"));
	free(s);
	cr_assert(eq(int, nft_name_unquote("\"\"", &s), -EINVAL));
	cr_assert(eq(int, nft_name_unquote("", &s), -EINVAL));
}

/* Error output as libnftables 1.0.6 writes it (captured on Debian 12). */
#define ERR_SYNTAX                                                                                 \
	"Error: syntax error, unexpected newline\n"                                                \
	"add rule inet t c tcp dport foo bogus\n"                                                  \
	"                                     ^\n"
#define ERR_CGROUP                                                                                 \
	"Error: cgroupv2 path fails: No such file or directory\n"                                  \
	"add rule inet t c socket cgroupv2 level 2 \"nope.slice/x.service\" accept\n"              \
	"                                          ^^^^^^^^^^^^^^^^^^^^^^\n"
#define ERR_NOHANDLE                                                                               \
	"Error: Could not process rule: No such file or directory\n"                               \
	"delete rule inet t c handle 99\n"                                                         \
	"                            ^^\n"
#define ERR_NOCHAIN                                                                                \
	"Error: Could not process rule: No such file or directory\n"                               \
	"flush chain inet t nochain\n"                                                             \
	"                   ^^^^^^^\n"
#define ERR_PERM                                                                                   \
	"Error: Could not process rule: Operation not permitted\n"                                 \
	"add rule inet t c accept\n"                                                               \
	"^^^^^^^^^^^^^^^^^^^^^^^^\n"
#define ERR_EXISTS                                                                                 \
	"Error: Could not process rule: File exists\n"                                             \
	"add chain inet t c\n"                                                                     \
	"^^^^^^^^^^^^^^^^^^\n"

/* Criterion hands parameters to a worker that may run at other addresses (ASLR):
 * keep the strings inside the struct, not behind pointers. */
struct classify_case {
	char err[256];
	enum nft_error_kind kind;
	int errno_;
	char summary[128];
};

ParameterizedTestParameters(nft_cmd, errors)
{
	static struct classify_case cases[] = {
	    {ERR_SYNTAX, NFT_ERROR_OTHER, -EIO, "syntax error, unexpected newline"},
	    {ERR_CGROUP, NFT_ERROR_NO_CGROUP, -ENOENT,
	     "cgroupv2 path fails: No such file or directory at '\"nope.slice/x.service\"'"},
	    {ERR_NOHANDLE, NFT_ERROR_NOENT, -ENOENT,
	     "Could not process rule: No such file or directory at '99'"},
	    {ERR_NOCHAIN, NFT_ERROR_NOENT, -ENOENT,
	     "Could not process rule: No such file or directory at 'nochain'"},
	    {ERR_PERM, NFT_ERROR_OTHER, -EPERM,
	     "Could not process rule: Operation not permitted at 'add rule inet t c accept'"},
	    {ERR_EXISTS, NFT_ERROR_OTHER, -EEXIST,
	     "Could not process rule: File exists at 'add chain inet t c'"},
	    {"Error: out of luck\n", NFT_ERROR_OTHER, -EIO, "out of luck"},
	    {"", NFT_ERROR_OTHER, -EIO, "unknown error"},
	    /* The command echo must not decide the class: only nft's message does. */
	    {"Error: syntax error, unexpected string\n"
	     "add rule inet t c meta comment \"No such file or directory\"\n"
	     "^^^\n",
	     NFT_ERROR_OTHER, -EIO, "syntax error, unexpected string at 'add'"},
	};

	return cr_make_param_array(struct classify_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct classify_case *c, nft_cmd, errors)
{
	char *s = NULL;

	cr_assert(eq(int, (int)nft_error_classify(c->err), (int)c->kind));
	cr_assert(eq(int, nft_error_errno(c->err), c->errno_));
	cr_assert(eq(int, nft_error_summary(c->err, &s), 0));
	cr_assert(eq(str, s, c->summary));
	free(s);
}

Test(nft_cmd, error_summary_null)
{
	char *s = NULL;

	cr_assert(eq(int, nft_error_summary(NULL, &s), 0));
	cr_assert(eq(str, s, "unknown error"));
	free(s);
	cr_assert(eq(int, (int)nft_error_classify(NULL), (int)NFT_ERROR_OTHER));
	cr_assert(eq(int, nft_error_errno(NULL), -EIO));
}
