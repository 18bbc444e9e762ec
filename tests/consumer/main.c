/* A program that uses an installed iomux: waits for a byte on a pipe. */
#include <iomux/error.h>
#include <iomux/selector.h>

#include <stdio.h>
#include <unistd.h>

int main(void) {
  iom_selector *sel;
  int p[2], err;
  if (pipe(p) || (err = iom_selector_new(IOM_DEFAULT, &sel)) < 0)
    return 1;
  if ((err = iom_selector_register(sel, p[0], IOM_READ, NULL)) < 0) {
    fprintf(stderr, "register: %s\n", iom_strerror(err));
    return 1;
  }
  if (write(p[1], "x", 1) != 1)
    return 1;
  iom_ready out[1];
  int n = iom_selector_select(sel, 1000, out, 1);
  printf("%s: %d ready\n", iom_selector_name(sel), n);
  iom_selector_free(sel);
  return n == 1 && out[0].key->fd == p[0] ? 0 : 1;
}
