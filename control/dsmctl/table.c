/* SPDX-License-Identifier: BSD-3-Clause */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dsmctl/table.h"

struct dsmctl_table {
	unsigned ncols;
	size_t ncells, cap;
	char **cells;        /* heads first, then the rows, row-major */
};

static int push(struct dsmctl_table *t, char *s)
{
	if (!s)
		return -ENOMEM;
	if (t->ncells == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **c = realloc(t->cells, cap * sizeof(*c));

		if (!c) {
			free(s);
			return -ENOMEM;
		}
		t->cells = c;
		t->cap = cap;
	}
	t->cells[t->ncells++] = s;
	return 0;
}

struct dsmctl_table *dsmctl_table_new(unsigned ncols, const char *const *heads)
{
	struct dsmctl_table *t = calloc(1, sizeof(*t));

	if (!t || !ncols) {
		free(t);
		return NULL;
	}
	t->ncols = ncols;
	for (unsigned i = 0; i < ncols; i++)
		if (push(t, strdup(heads[i]))) {
			dsmctl_table_free(t);
			return NULL;
		}
	return t;
}

void dsmctl_table_free(struct dsmctl_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

int dsmctl_table_cell(struct dsmctl_table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return push(t, n < 0 ? NULL : s);
}

unsigned dsmctl_table_rows(const struct dsmctl_table *t)
{
	return (unsigned)((t->ncells + t->ncols - 1) / t->ncols) - 1;
}

/* "12", "1.5", "3/10": a number a reader compares by its right end. */
static bool numeric(const char *s)
{
	if (!isdigit((unsigned char)s[0]))
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && *s != '.' && *s != '/')
			return false;
	return true;
}

static const char *cell(const struct dsmctl_table *t, size_t row, unsigned col)
{
	size_t i = row * t->ncols + col;

	return i < t->ncells ? t->cells[i] : "-";
}

/* Right-align when every row's cell is a number or "-", and one is a number. */
static bool right_aligned(const struct dsmctl_table *t, unsigned col, size_t nrows)
{
	bool any = false;

	for (size_t r = 1; r < nrows; r++) {
		const char *s = cell(t, r, col);

		if (numeric(s))
			any = true;
		else if (strcmp(s, "-"))
			return false;
	}
	return any;
}

void dsmctl_table_print(const struct dsmctl_table *t, FILE *f)
{
	size_t nrows = (t->ncells + t->ncols - 1) / t->ncols, width[64] = { 0 };
	bool right[64];
	unsigned ncols = t->ncols < 64 ? t->ncols : 64;

	for (unsigned c = 0; c < ncols; c++) {
		for (size_t r = 0; r < nrows; r++)
			if (strlen(cell(t, r, c)) > width[c])
				width[c] = strlen(cell(t, r, c));
		right[c] = right_aligned(t, c, nrows);
	}
	for (size_t r = 0; r < nrows; r++) {
		for (unsigned c = 0; c < ncols; c++) {
			const char *s = cell(t, r, c);
			int pad = (int)(width[c] - strlen(s));
			bool last = c + 1 == ncols;

			fprintf(f, "%s%*s%s%*s", c ? "  " : "", right[c] ? pad : 0, "", s,
				right[c] || last ? 0 : pad, "");
		}
		fputc('\n', f);
	}
}
