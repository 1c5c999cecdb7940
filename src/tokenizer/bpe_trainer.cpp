// The BPE merge loop. It follows Hugging Face tokenizers' BpeTrainer::do_train
// (tokenizers/src/models/bpe/trainer.rs) step for step, because its quirks decide the result:
//
//  - Every distinct word is a sequence of symbol ids with a count. pair_counts holds, for every
//    adjacent pair, the sum of the counts of the words where it occurs (once per occurrence).
//  - A max-heap holds entries (count, pair, pos), pos being a set of words. The top is the highest
//    count, then the smallest pair (left id, then right id). Counts change without the heap being
//    told: an entry whose count differs from pair_counts when it reaches the top is pushed back
//    with the current count (lazy invalidation), keeping its pos.
//  - A merge of (a, b) -> ab rewrites a and b left to right in the words of the popped entry's
//    pos only, and reports for each rewrite (x, a) -1, (x, ab) +1 and (b, y) -1, (ab, y) +1
//    for its neighbours x and y. The merged pair's own count is never decreased.
//  - After a merge, each pair that gained occurrences gets a new heap entry whose pos is the set
//    of words where it gained them.
//  Pairs are normally born in a single merge (the one creating the newer of their two tokens),
//  so every pair has one entry whose pos lists all of its words. The exception is a token string
//  made by two different pairs ("a"+"bc" and "ab"+"c"): the second merge reuses the token's id,
//  so pairs next to it get a second entry, the first of the two to reach the top merges only its
//  own words, and the pair is merged again later (its count was not decreased) when the other
//  entry comes up. The merge list then holds the pair twice; the model keeps its later rank.
//  Entries equal in count and pair (possible only in such cases) pop in an order Hugging Face
//  leaves to its hash maps; rcc pops the older entry first.
#include "tokenizer/bpe_trainer.h"

#include <algorithm>
#include <array>
#include <queue>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/byte_level.h"

namespace rcc::tok {

namespace {

using PairKey = uint64_t;
inline PairKey pack(int32_t a, int32_t b) {
  return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
}
inline int32_t left_of(PairKey k) {
  return int32_t(k >> 32);
}
inline int32_t right_of(PairKey k) {
  return int32_t(uint32_t(k));
}

struct PairHash {
  size_t operator()(PairKey k) const { return size_t((k * 0x9E3779B97F4A7C15ull) >> 17); }
};

struct HeapEntry {
  uint64_t count;
  PairKey pair;
  uint64_t seq;  // push order of the entry's pos set (older first among equals)
  uint32_t pos;  // index into the pos store
};
// std::priority_queue pops the largest: higher count, then smaller pair, then older.
struct HeapLess {
  bool operator()(const HeapEntry& x, const HeapEntry& y) const {
    if (x.count != y.count) return x.count < y.count;
    if (x.pair != y.pair) return x.pair > y.pair;
    return x.seq > y.seq;
  }
};

// The symbols of all words in one array: word w is sym[off[w] .. off[w] + len[w]).
struct Words {
  std::vector<int32_t> sym;
  std::vector<uint64_t> off;
  std::vector<uint32_t> len;
  std::vector<uint64_t> count;
};

// Rewrites every (a, b) of word w into m, left to right, reporting pair changes to `change`.
template <class Change>
void merge_word(Words& words, size_t w, int32_t a, int32_t b, int32_t m, Change&& change) {
  int32_t* s = words.sym.data() + words.off[w];
  const uint32_t n = words.len[w];
  uint32_t r = 0, out = 0;
  while (r < n) {
    if (r + 1 < n && s[r] == a && s[r + 1] == b) {
      if (out > 0) {
        change(pack(s[out - 1], a), -1);
        change(pack(s[out - 1], m), +1);
      }
      if (r + 2 < n) {
        change(pack(b, s[r + 2]), -1);
        change(pack(m, s[r + 2]), +1);
      }
      s[out++] = m;
      r += 2;
    } else {
      s[out++] = s[r++];
    }
  }
  words.len[w] = out;
}

using TokenIds = std::unordered_map<std::string, int32_t>;  // token string -> id

// The vocabulary's start, as Hugging Face's word_to_id: the special tokens by their text, then
// the alphabet, the 256 byte-level characters sorted by code point, by their byte-level spelling
// (so a special token "!" would also be the symbol "!"). Fills res.vocab, res.num_special and
// `ids`; returns the id of each byte.
std::array<int32_t, 256> start_vocabulary(const BpeTrainerOptions& options, BpeTrainResult& res,
                                          TokenIds& ids) {
  auto add_token = [&](const std::string& s) {
    ids.emplace(s, int32_t(res.vocab.size()));
    res.vocab.push_back(s);
  };
  for (const std::string& t : options.special_tokens)
    if (!ids.count(t)) add_token(t);
  res.num_special = res.vocab.size();
  std::array<int32_t, 256> byte_id{};
  std::array<int, 256> order{};
  for (int b = 0; b < 256; ++b) order[b] = b;
  std::sort(order.begin(), order.end(),
            [](int x, int y) { return byte_to_char(uint8_t(x)) < byte_to_char(uint8_t(y)); });
  for (int b : order) {
    const std::string spelled = bytes_to_token(std::string(1, char(b)));
    auto it = ids.find(spelled);
    if (it == ids.end()) {
      byte_id[b] = int32_t(res.vocab.size());
      add_token(spelled);
    } else {
      byte_id[b] = it->second;
    }
  }
  return byte_id;
}

// Every distinct word of `counts` as the symbol ids of its bytes, with its count.
Words spell_words(const WordCounts& counts, const std::array<int32_t, 256>& byte_id) {
  Words words;
  const size_t nw = counts.size();
  words.off.resize(nw);
  words.len.resize(nw);
  words.count.resize(nw);
  for (size_t w = 0; w < nw; ++w) {
    const std::string_view word = counts.word(w);
    words.off[w] = words.sym.size();
    words.len[w] = uint32_t(word.size());
    words.count[w] = counts.count(w);
    for (unsigned char c : word) words.sym.push_back(byte_id[c]);
  }
  return words;
}

// The pairs of the merge loop (the top of this file): pair_counts, the heap, and the pos sets
// the heap entries index in pos_store; seq numbers the entries in push order.
struct PairQueue {
  std::unordered_map<PairKey, int64_t, PairHash> pair_counts;
  std::vector<std::vector<uint32_t>> pos_store;
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, HeapLess> heap;
  uint64_t seq = 0;
};

// The initial pair counts of `words` and, per pair, the words where it occurs (each word once):
// one heap entry per pair of positive count, numbered in pair order.
PairQueue count_pairs(const Words& words) {
  PairQueue q;
  const size_t nw = words.count.size();
  std::unordered_map<PairKey, uint32_t, PairHash> first_pos;  // pair -> index in pos_store
  q.pair_counts.reserve(nw);
  for (size_t w = 0; w < nw; ++w) {
    const int32_t* s = words.sym.data() + words.off[w];
    for (uint32_t i = 0; i + 1 < words.len[w]; ++i) {
      const PairKey p = pack(s[i], s[i + 1]);
      q.pair_counts[p] += int64_t(words.count[w]);
      auto [it, fresh] = first_pos.emplace(p, uint32_t(q.pos_store.size()));
      if (fresh) q.pos_store.emplace_back();
      std::vector<uint32_t>& v = q.pos_store[it->second];
      if (v.empty() || v.back() != uint32_t(w)) v.push_back(uint32_t(w));
    }
  }
  std::vector<HeapEntry> initial;
  initial.reserve(first_pos.size());
  // Sorted by pair so that seq numbers do not depend on hash-map order.
  std::vector<std::pair<PairKey, uint32_t>> firsts(first_pos.begin(), first_pos.end());
  std::sort(firsts.begin(), firsts.end());
  for (auto [p, idx] : firsts) {
    const int64_t c = q.pair_counts[p];
    if (c > 0) initial.push_back({uint64_t(c), p, q.seq++, idx});
  }
  q.heap = std::priority_queue<HeapEntry, std::vector<HeapEntry>, HeapLess>(HeapLess{},
                                                                            std::move(initial));
  return q;
}

struct Made {  // one merge: the pair, the token it made, the pair's count then
  PairKey pair;
  int32_t merged;
  uint64_t count;
};

// The merge loop: pops the best pair until the vocabulary has options.vocab_size tokens, the
// heap is empty or the best count is below options.min_frequency (or 0); merges it in the words
// of its entry, adding the new token to res.vocab and `ids` (a token string made before keeps
// its id), and pushes an entry for each pair that gained occurrences. Returns the merges in
// order; on_merge, when set, receives their number after each.
std::vector<Made> merge_pairs(Words& words, PairQueue& q, BpeTrainResult& res, TokenIds& ids,
                              const BpeTrainerOptions& options,
                              const std::function<void(size_t)>& on_merge) {
  std::vector<Made> made;
  std::vector<std::pair<PairKey, uint32_t>> gained;  // (pair, word) for +1 changes of one merge
  const uint64_t min_freq = uint64_t(options.min_frequency);
  while (int64_t(res.vocab.size()) < options.vocab_size && !q.heap.empty()) {
    HeapEntry top = q.heap.top();
    q.heap.pop();
    const int64_t current = q.pair_counts[top.pair];
    if (top.count != uint64_t(current)) {
      top.count = uint64_t(current);
      q.heap.push(top);
      continue;
    }
    if (top.count < 1 || min_freq > top.count) break;
    const int32_t a = left_of(top.pair), b = right_of(top.pair);
    std::string token = res.vocab[size_t(a)] + res.vocab[size_t(b)];
    int32_t m;
    if (auto it = ids.find(token); it != ids.end()) {
      m = it->second;
    } else {
      m = int32_t(res.vocab.size());
      ids.emplace(token, m);
      res.vocab.push_back(std::move(token));
    }
    made.push_back({top.pair, m, top.count});

    gained.clear();
    std::vector<uint32_t> pos = std::move(q.pos_store[top.pos]);
    q.pos_store[top.pos] = {};
    for (uint32_t w : pos) {
      const int64_t c = int64_t(words.count[w]);
      merge_word(words, w, a, b, m, [&](PairKey p, int delta) {
        q.pair_counts[p] += delta * c;
        if (delta > 0) gained.emplace_back(p, w);
      });
    }
    std::sort(gained.begin(), gained.end());
    for (size_t i = 0; i < gained.size();) {
      const PairKey p = gained[i].first;
      std::vector<uint32_t> where;
      for (; i < gained.size() && gained[i].first == p; ++i)
        if (where.empty() || where.back() != gained[i].second) where.push_back(gained[i].second);
      const int64_t c = q.pair_counts[p];
      if (c > 0) {
        q.heap.push({uint64_t(c), p, q.seq++, uint32_t(q.pos_store.size())});
        q.pos_store.push_back(std::move(where));
      }
    }
    if (on_merge) on_merge(made.size());
  }
  return made;
}

// res.merges: the merges in order, a pair merged more than once at its last rank only (Hugging
// Face builds its merge map by inserting the list in order, then serializes it sorted by rank).
void rank_merges(const std::vector<Made>& made, BpeTrainResult& res) {
  std::unordered_map<PairKey, size_t, PairHash> last;
  for (size_t i = 0; i < made.size(); ++i) last[made[i].pair] = i;
  for (size_t i = 0; i < made.size(); ++i) {
    if (last[made[i].pair] != i) continue;
    res.merges.push_back(
        {left_of(made[i].pair), right_of(made[i].pair), made[i].merged, made[i].count});
  }
}

}  // namespace

void check_bpe_trainer_options(const BpeTrainerOptions& o) {
  const int64_t floor = int64_t(o.special_tokens.size()) + 256;
  RCC_CHECK(o.vocab_size >= floor, "vocab_size ", o.vocab_size, " is below ", floor,
            " (the special tokens and the 256 byte-level symbols)");
  RCC_CHECK(o.vocab_size <= kMaxBpeVocabSize, "vocab_size ", o.vocab_size, " is above ",
            kMaxBpeVocabSize);
  RCC_CHECK(o.min_frequency >= 0, "min_frequency must be >= 0");
  RCC_CHECK(o.max_input_bytes >= 0, "max_input_bytes must be >= 0");
  for (const std::string& t : o.special_tokens) RCC_CHECK(!t.empty(), "empty special token");
}

BpeTrainResult train_bpe(const WordCounts& counts, const BpeTrainerOptions& options,
                         const std::function<void(size_t)>& on_merge) {
  check_bpe_trainer_options(options);
  BpeTrainResult res;
  TokenIds ids;
  const std::array<int32_t, 256> byte_id = start_vocabulary(options, res, ids);
  Words words = spell_words(counts, byte_id);
  res.words = counts.total();
  res.distinct_words = counts.size();
  PairQueue q = count_pairs(words);
  rank_merges(merge_pairs(words, q, res, ids, options, on_merge), res);
  return res;
}

}  // namespace rcc::tok
