/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Aligned text tables for people: cells are added left to right, row by
 * row; a column whose cells all look like numbers is right-aligned, the
 * others left-aligned; columns are two spaces apart and no line ends in
 * spaces (so output diffs and greps cleanly).
 */
#ifndef DSM_CONTROL_DSMCTL_TABLE_H
#define DSM_CONTROL_DSMCTL_TABLE_H

#include <stdio.h>

struct dsmctl_table;

/* ncols headers.  NULL on allocation failure. */
struct dsmctl_table *dsmctl_table_new(unsigned ncols, const char *const *heads);
void dsmctl_table_free(struct dsmctl_table *t);

/* Append one cell (printf format); a row is complete after ncols cells.
 * 0 or -ENOMEM. */
int dsmctl_table_cell(struct dsmctl_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

unsigned dsmctl_table_rows(const struct dsmctl_table *t);

/* Header and complete rows; a partial last row is padded with "-". */
void dsmctl_table_print(const struct dsmctl_table *t, FILE *f);

#endif /* DSM_CONTROL_DSMCTL_TABLE_H */
