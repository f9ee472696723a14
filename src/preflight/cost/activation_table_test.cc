// Korthikanti et al. 2022 activation memory for the four models of the paper (22B, 175B, 530B,
// 1T; TP 8, s 2048), every recompute mode: preflight's per-layer bytes against the paper's
// closed forms (Eq. 2, Eq. 4, Table 2). Prints the table the validation docs quote.
#include <gtest/gtest.h>

#include <cstdio>

#include "preflight/cost/memory.h"

namespace preflight {
namespace {

struct PaperModel {
  const char* name;
  int64_t hidden, heads, layers, micro_batch;
};

Architecture Gpt(const PaperModel& m) {
  Architecture a;
  a.name = m.name;
  a.model_type = "gpt2";
  a.hidden = m.hidden;
  a.heads = a.kv_heads = m.heads;
  a.head_dim = m.hidden / m.heads;
  a.layers = m.layers;
  a.ffn = 4 * m.hidden;
  a.vocab = 51200;
  a.gated_mlp = false;
  a.activation = MlpActivation::kGelu;
  a.norm = NormKind::kLayerNorm;
  a.dropout = true;
  a.position_rows = 2048;
  return a;
}

TEST(KorthikantiTable, PerLayerActivationsMatchThePaperForms) {
  const PaperModel models[] = {{"22B", 6144, 64, 48, 4}, {"175B", 12288, 96, 96, 1},
                               {"530B", 20480, 128, 105, 1}, {"1T", 25600, 160, 128, 1}};
  const double s = 2048, t = 8;
  std::printf("%-6s %-22s %12s %12s %8s\n", "model", "mode", "paper MB", "preflight MB", "error");
  for (const PaperModel& m : models) {
    Architecture a = Gpt(m);
    TrainingJob j;
    j.seq_len = 2048;
    j.global_batch = 64;
    j.flash_attention = false;
    const double sbh = s * m.micro_batch * m.hidden;
    const double as_h = 5.0 * m.heads * s / m.hidden;
    struct Mode {
      const char* name;
      bool sp;
      Recompute r;
      double paper;  // bytes per layer
    } modes[] = {
        {"TP, no recompute (Eq.2)", false, Recompute::kNone, sbh * (10 + 24 / t + as_h / t)},
        {"TP+SP (Eq.4)", true, Recompute::kNone, sbh / t * (34 + as_h)},
        {"TP+SP+selective", true, Recompute::kSelective, 34 * sbh / t},
        {"TP, full recompute", false, Recompute::kFull, 2 * sbh},
    };
    for (const Mode& mode : modes) {
      Plan p;
      p.tp = 8;
      p.sp = mode.sp;
      p.recompute = mode.r;
      p.micro_batch = m.micro_batch;
      LayerActivationBytes got = ActivationBytesPerLayer(a, p, j);
      const double mine = mode.r == Recompute::kFull ? got.recompute_input : got.dense;
      const double err = (mine - mode.paper) / mode.paper;
      std::printf("%-6s %-22s %12.1f %12.1f %+7.2f%%\n", m.name, mode.name, mode.paper / 1e6, mine / 1e6,
                  100 * err);
      EXPECT_NEAR(err, 0.0, 0.005) << m.name << " " << mode.name;
    }
  }
}

}  // namespace
}  // namespace preflight
