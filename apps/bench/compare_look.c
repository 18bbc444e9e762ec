/* iomux-bench compare: how each model is drawn, the same in every chart
 * and every report.
 *
 * Fifteen lines cannot each get a hue of their own that everyone tells
 * apart, so each model gets a pair: a colour from the Okabe–Ito palette,
 * which stays distinct under the common colour-vision deficiencies
 * (without its yellow, too faint on white), and a marker shape, so that
 * models of one colour differ in shape and the chart still reads in grey.
 * The iomux models are solid lines with filled markers; the anchors
 * (libuv, libev, libevent) dashed lines with hollow markers; the
 * library's own reactor is drawn thicker.
 */
#include "compare.h"

#include <string.h>

#define BLACK "#000000"
#define ORANGE "#E69F00"
#define SKY "#56B4E9"
#define GREEN "#009E73"
#define BLUE "#0072B2"
#define VERMILLION "#D55E00"
#define PURPLE "#CC79A7"

const char cmp_palette_name[] = "Okabe–Ito colours";

static const struct {
  const char *label, *colour;
  cmp_shape shape;
} looks[] = {
    /* The five of the --idle scenario each have a colour of their own. */
    {"select", ORANGE, SH_SQUARE},
    {"poll", SKY, SH_TRIANGLE},
    {"epoll", BLUE, SH_CIRCLE},
    {"reactor", GREEN, SH_CIRCLE},
    {"uring", PURPLE, SH_DIAMOND},
    {"epoll-et", BLUE, SH_DIAMOND},
    {"nonblocking", ORANGE, SH_TRIANGLE_DOWN},
    {"sigio", PURPLE, SH_SQUARE},
    {"blocking", BLACK, SH_SQUARE},
    {"posix-aio", BLACK, SH_TRIANGLE_DOWN},
    {"threads", VERMILLION, SH_TRIANGLE},
    {"pool", VERMILLION, SH_SQUARE},
    {"libuv", SKY, SH_CIRCLE},
    {"libev", BLACK, SH_CIRCLE},
    {"libevent", VERMILLION, SH_CIRCLE},
};

/* For a model this table does not know: colour and shape in turn. */
static const char *const spare[] = {BLUE, VERMILLION, GREEN, PURPLE, ORANGE,
                                    SKY, BLACK};
#define NSPARE (int)(sizeof spare / sizeof spare[0])

cmp_look cmp_look_of(const cmp_model *m, int mi) {
  cmp_look l = {.colour = spare[mi % NSPARE],
                .shape = (cmp_shape)(mi / NSPARE % SH_COUNT),
                .anchor = m->arg[0] == '\0', .width = 2};
  for (size_t i = 0; i < sizeof looks / sizeof looks[0]; i++)
    if (strcmp(m->label, looks[i].label) == 0) {
      l.colour = looks[i].colour;
      l.shape = looks[i].shape;
    }
  if (strcmp(m->label, "reactor") == 0)
    l.width = 3;
  return l;
}

void cmp_look_line(const cmp_look *l, FILE *to) {
  fprintf(to, "stroke=\"%s\" stroke-width=\"%g\"%s", l->colour, l->width,
          l->anchor ? " stroke-dasharray=\"7 4\"" : "");
}

void cmp_look_marker(const cmp_look *l, double x, double y, double r,
                     FILE *to) {
  switch (l->shape) {
  case SH_CIRCLE:
    fprintf(to, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" ", x, y, r);
    break;
  case SH_SQUARE:
    r *= 0.9;
    fprintf(to, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" ",
            x - r, y - r, 2 * r, 2 * r);
    break;
  case SH_DIAMOND:
    r *= 1.3;
    fprintf(to, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" ", x,
            y - r, x + r, y, x, y + r, x - r, y);
    break;
  default: { /* the triangles: point up or down */
    double s = l->shape == SH_TRIANGLE ? 1 : -1;
    r *= 1.2;
    fprintf(to, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" ", x,
            y - s * r, x + r, y + s * r * 0.7, x - r, y + s * r * 0.7);
  }
  }
  if (l->anchor)
    fprintf(to, "fill=\"#fff\" stroke=\"%s\" stroke-width=\"1.8\"/>\n",
            l->colour);
  else
    fprintf(to, "fill=\"%s\" stroke=\"#fff\" stroke-width=\"0.8\"/>\n",
            l->colour);
}
