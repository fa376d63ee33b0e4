/* Progress lines of the library's hooks (ldm/log.h): the text `ldm-vk` prints for them. */
#include <stdio.h>
#include <string.h>

#include "ldm/log.h"

/* "12m05s", "1h02m" */
static void fmt_duration(double s, char *b, size_t n) {
  if (!(s >= 0)) s = 0;
  long long t = (long long)(s + 0.5);
  if (t >= 3600) snprintf(b, n, "%lldh%02lldm", t / 3600, t / 60 % 60);
  else snprintf(b, n, "%lldm%02llds", t / 60, t % 60);
}

size_t ldm_progress_format(const ldm_progress *p, char *buf, size_t n) {
  if (!n) return 0;
  bool train = p->phase == LDM_PHASE_VAE || p->phase == LDM_PHASE_UNET;
  int len;
  if (train)
    len = snprintf(buf, n, "%s step %lld/%lld loss %.5f%s%s", p->name, (long long)p->done, (long long)p->total,
                   p->loss, p->extra && p->extra[0] ? " " : "", p->extra ? p->extra : "");
  else
    len = snprintf(buf, n, "%s %lld/%lld images", p->name, (long long)p->done, (long long)p->total);
  char eta[32], run[32];
  fmt_duration(p->eta_s, eta, sizeof eta);
  if (len >= 0 && (size_t)len < n)
    len += snprintf(buf + len, n - (size_t)len, " %.2f %s ETA %s", p->rate, p->rate_unit ? p->rate_unit : "/s",
                    p->eta_s >= 0 ? eta : "?");
  if (p->run_eta_s >= 0 && len >= 0 && (size_t)len < n) {
    fmt_duration(p->run_eta_s, run, sizeof run);
    len += snprintf(buf + len, n - (size_t)len, ", run ETA %s%s", p->run_eta_estimated ? "~" : "", run);
  }
  if (len < 0) {
    buf[0] = 0;
    return 0;
  }
  return (size_t)len < n ? (size_t)len : n - 1;
}
