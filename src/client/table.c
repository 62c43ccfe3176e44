#include "client/table.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

void berth_table_print(FILE *out, const char *cells, size_t cell_size, size_t n_rows, size_t n_cols) {
  cleanup_free size_t *width = berth_calloc(n_cols, sizeof(*width));
  for (size_t r = 0; r < n_rows; r++)
    for (size_t col = 0; col < n_cols; col++) {
      size_t len = strlen(cells + (r * n_cols + col) * cell_size);
      if (len > width[col]) width[col] = len;
    }
  for (size_t r = 0; r < n_rows; r++) {
    const char *row = cells + r * n_cols * cell_size;
    for (size_t col = 0; col + 1 < n_cols; col++) fprintf(out, "%-*s   ", (int)width[col], row + col * cell_size);
    fprintf(out, "%s\n", row + (n_cols - 1) * cell_size);
  }
}

/* Length of column col of line (0 when the line has fewer columns). */
static const char *column(const char *line, size_t col, size_t *len) {
  for (size_t i = 0; i < col; i++) {
    line = strchr(line, '\t');
    if (!line) return NULL;
    line++;
  }
  const char *tab = strchr(line, '\t');
  *len = tab ? (size_t)(tab - line) : strlen(line);
  return line;
}

void berth_table_print_tabbed(FILE *out, char *const *lines, size_t n) {
  size_t n_cols = 1;
  for (size_t r = 0; r < n; r++) {
    size_t cols = 1;
    for (const char *p = lines[r]; (p = strchr(p, '\t')); p++) cols++;
    if (cols > n_cols) n_cols = cols;
  }
  cleanup_free size_t *width = berth_calloc(n_cols, sizeof(*width));
  for (size_t r = 0; r < n; r++)
    for (size_t col = 0; col < n_cols; col++) {
      size_t len = 0;
      if (column(lines[r], col, &len) && len > width[col]) width[col] = len;
    }
  for (size_t r = 0; r < n; r++) {
    for (size_t col = 0; col < n_cols; col++) {
      size_t len = 0;
      const char *cell = column(lines[r], col, &len);
      if (!cell) break;
      bool last = col + 1 == n_cols || !strchr(cell, '\t');
      if (last) {
        fprintf(out, "%.*s", (int)len, cell);
        break;
      }
      fprintf(out, "%.*s%*s   ", (int)len, cell, (int)(width[col] - len), "");
    }
    fputc('\n', out);
  }
}
