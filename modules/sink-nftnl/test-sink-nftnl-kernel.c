/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* placeholder, replaced by the kernel tests */
#include <criterion/criterion.h>
