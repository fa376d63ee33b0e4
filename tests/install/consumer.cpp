// The C++ twin of consumer.c (tests/install/run.sh): the public headers used from C++ through their
// extern "C" guards, against the installed libldm only. Writes a two-class PNG folder, trains `tiny`
// for a few steps on the CPU backend, samples and checks the results.   consumer_cxx WORKDIR
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <sys/stat.h>

#include <ldm/io.h>
#include <ldm/ldm.h>
#include <ldm/model.h>
#include <ldm/train.h>
#include <ldm/version.h>

namespace {

bool check(ldm_status s, const char *what) {
  if (s == LDM_OK) return true;
  std::fprintf(stderr, "consumer_cxx: %s: %s (%s)\n", what, ldm_last_error(), ldm_status_str(s));
  return false;
}

bool nonempty(const std::string &path) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && st.st_size > 0) return true;
  std::fprintf(stderr, "consumer_cxx: %s is missing or empty\n", path.c_str());
  return false;
}

template <size_t N> void set(char (&field)[N], const std::string &v) { std::snprintf(field, N, "%s", v.c_str()); }

}  // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer_cxx WORKDIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  if (std::string(ldm_version()) != LDM_VERSION) {
    std::fprintf(stderr, "consumer_cxx: headers are %s, library is %s\n", LDM_VERSION, ldm_version());
    return 1;
  }

  // dir/data/{stripes,blank}/N.png
  const char *classes[2] = {"blank", "stripes"};
  mkdir((dir + "/data").c_str(), 0755);
  std::vector<float> img(16 * 16);
  for (int c = 0; c < 2; c++) {
    mkdir((dir + "/data/" + classes[c]).c_str(), 0755);
    for (int k = 0; k < 8; k++) {
      for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++)
          img[static_cast<size_t>(y * 16 + x)] = c ? ((x + k) % 4 < 2 ? 0.8f : -0.8f) : -0.2f + 0.05f * static_cast<float>(k);
      const std::string p = dir + "/data/" + classes[c] + "/" + std::to_string(k) + ".png";
      if (!check(ldm_png_write_image(p.c_str(), img.data(), 1, 16, 16, 0), "writing the dataset")) return 1;
    }
  }

  ldm_train_opts t;
  ldm_train_defaults(&t);
  set(t.config, "tiny");
  set(t.device, "cpu");
  set(t.data, dir + "/data");
  set(t.out, dir + "/run");
  t.vae_steps = 2;
  t.unet_steps = 2;
  t.batch = 4;
  t.sample_steps = 2;
  t.quiet = true;
  if (!check(ldm_train(&t, nullptr), "ldm_train")) return 1;
  for (const char *f : {"vae.safetensors", "unet.safetensors", "state_unet.safetensors", "metrics.jsonl"})
    if (!nonempty(dir + "/run/" + f)) return 1;

  ldm_backend be = ldm_backend_cpu();
  ldm_sample_opts o;
  ldm_sample_defaults(&o);
  set(o.ckpt, dir + "/run");
  set(o.device, "cpu");
  o.n = 3;
  o.cls = 1;
  o.steps = 2;
  float *images = nullptr;
  int *labels = nullptr;
  ldm_model_cfg cfg;
  if (!check(ldm_sample(&be, &o, &images, &labels, &cfg), "ldm_sample")) return 1;
  const size_t n = static_cast<size_t>(o.n * cfg.cin * cfg.res * cfg.res);
  bool ok = n > 0;
  for (size_t i = 0; i < n; i++) ok = ok && std::isfinite(images[i]);
  for (int i = 0; i < o.n; i++) ok = ok && labels[i] == 1;
  if (!ok) std::fprintf(stderr, "consumer_cxx: %zu sampled values: non-finite values or labels other than 1\n", n);
  const std::string grid = dir + "/grid.png";
  ok = ok && check(ldm_png_write_grid(grid.c_str(), images, o.n, cfg.cin, cfg.res, cfg.res, o.n, cfg.crop),
                   "writing the grid") && nonempty(grid);
  std::free(images);
  std::free(labels);
  if (!ok) return 1;
  std::printf("consumer (C++): ldm %s (git %s): trained tiny 2+2 steps, sampled %d finite images of class 1\n",
              ldm_version(), ldm_version_git(), o.n);
  return 0;
}
