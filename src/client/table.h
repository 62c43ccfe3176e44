/* Left-aligned text columns three spaces apart, as docker's tables. */
#ifndef BERTH_CLIENT_TABLE_H
#define BERTH_CLIENT_TABLE_H

#include <stddef.h>
#include <stdio.h>

/* cells holds n_rows × n_cols NUL-terminated cells of cell_size bytes
 * each, row after row. */
void berth_table_print(FILE *out, const char *cells, size_t cell_size, size_t n_rows, size_t n_cols);

/* Prints lines (n of them) whose columns are split by tabs, each column
 * as wide as its widest cell; a line with fewer cells ends early. */
void berth_table_print_tabbed(FILE *out, char *const *lines, size_t n);

#endif
