/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
Test(x, y) {}
