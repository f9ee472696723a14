// File: cost/internal/gemm_memo.h
//
// Internal to the cost module: a per-thread memo of GEMM rates by shape (StepModel::TableRate).
// A search asks for the same few thousand shapes hundreds of millions of times (DeepSeek-V3 on
// 2,048 H800s: about 160 million rate lookups over some 20,000 distinct shapes), and a lookup in a
// measured table (interpolated in log2 of each dimension) costs far more than a memo hit.
//
//   GemmMemo& memo = GemmMemo::ForThisThread();
//   const GemmMemo::Context ctx{table.serial(), dtype, mamf, units, sustain};
//   if (const double* r = memo.Find(ctx, {m, k, n, batch})) return *r;
//   const double rate = ...;                    // the full computation
//   memo.Store(ctx, {m, k, n, batch}, rate);
//
// A rate is a pure function of its context (the table's content, the grid's dtype, the wave
// model's inputs and the sustained fraction) and its shape, and both are compared in full: a hit
// returns exactly what the computation would, so no prediction depends on what is cached.

#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <memory>

#include "preflight/catalog/hardware_spec.h"

namespace preflight::cost_internal {

class GemmMemo {
 public:
  // Everything besides the shape that the rate depends on.
  struct Context {
    uint64_t table = 0;  // GemmTable::serial()
    Dtype dtype = Dtype::kBf16;
    double mamf = 0, units = 0, sustain = 0;
    bool operator==(const Context&) const = default;
  };
  struct Shape {
    double m = 0, k = 0, n = 0, batch = 0;
    bool operator==(const Shape&) const = default;
  };

  static constexpr size_t kEntries = 16384;  // 48 bytes each: 768 KiB a thread
  static constexpr size_t kContexts = 8;    // contexts held at once (a step reads two or three)

  // The calling thread's memo, made on its first use.
  static GemmMemo& ForThisThread() {
    thread_local std::unique_ptr<GemmMemo> memo = std::make_unique<GemmMemo>();
    return *memo;
  }

  // The stored rate of `shape` in `ctx`, or null.
  const double* Find(const Context& ctx, const Shape& shape) {
    const uint64_t stamp = StampOf(ctx, /*install=*/false);
    if (stamp == 0) return nullptr;
    const Entry& e = entries_[Slot(shape)];
    return e.stamp == stamp && e.shape == shape ? &e.rate : nullptr;
  }

  // Stores `rate` for `shape` in `ctx`, replacing whatever shared its slot.
  void Store(const Context& ctx, const Shape& shape, double rate) {
    entries_[Slot(shape)] = Entry{StampOf(ctx, /*install=*/true), shape, rate};
  }

 private:
  struct Entry {
    uint64_t stamp = 0;  // the context's stamp when stored (0: empty)
    Shape shape;
    double rate = 0;
  };
  struct Held {
    Context ctx;
    uint64_t stamp = 0;  // 0: none
  };

  static size_t Slot(const Shape& s) {
    auto bits = [](double x) { return std::bit_cast<uint64_t>(x); };
    const uint64_t h =
        (bits(s.m) ^ (bits(s.n) * 0x9E3779B97F4A7C15ull) ^ (bits(s.k) >> 7) ^ (bits(s.batch) << 3)) * 0xBF58476D1CE4E5B9ull;
    return static_cast<size_t>(h >> (64 - std::countr_zero(kEntries)));
  }

  // The stamp of `ctx` among the held contexts; where it is not held, 0, or with `install` a
  // fresh stamp in the place of the oldest (never one used before, so the entries stored under
  // the context it replaces match nothing again).
  uint64_t StampOf(const Context& ctx, bool install) {
    for (const Held& h : held_) {
      if (h.stamp != 0 && h.ctx == ctx) return h.stamp;
    }
    if (!install) return 0;
    Held& oldest = held_[next_held_];
    next_held_ = (next_held_ + 1) % kContexts;
    oldest = Held{ctx, ++last_stamp_};
    return oldest.stamp;
  }

  static_assert(std::has_single_bit(kEntries));
  std::array<Entry, kEntries> entries_{};
  std::array<Held, kContexts> held_{};
  size_t next_held_ = 0;
  uint64_t last_stamp_ = 0;
};

}  // namespace preflight::cost_internal
