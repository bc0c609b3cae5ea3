/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* "scnpm status [OPTIONS] [PATTERN|UNIT...]" (argv[0] is "status"): the exit status. */
int status_main(int argc, char *argv[]);
