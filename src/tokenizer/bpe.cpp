#include "tokenizer/bpe.h"

#include <climits>
#include <queue>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace rcc::tok {

namespace {
constexpr size_t kSmallWord = 64;  // bytes; above this the heap version is used
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges) {
    auto it = word_ids.find(std::string(word));
    if (it != word_ids.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (word.size() == 1 && byte_ids[static_cast<unsigned char>(word[0])] >= 0) {
    out.push_back(byte_ids[static_cast<unsigned char>(word[0])]);
  } else if (word.size() <= kSmallWord) {
    encode_small(word, out);
  } else {
    encode_large(word, out);
  }
}

size_t BpeModel::initial_symbols(std::string_view word, int32_t* sym) const {
  size_t m = 0;
  if (byte_level && !has_missing_bytes) {
    for (unsigned char b : word) sym[m++] = byte_ids[b];
    return m;
  }
  // Hugging Face keeps an unknown symbol pending (to fuse the next one into it) and adds it when a
  // known symbol follows; byte-fallback tokens do not flush it.
  bool unk_pending = false;
  std::string utf8;
  const auto* p = reinterpret_cast<const unsigned char*>(word.data());
  for (size_t i = 0; i < word.size();) {
    int32_t id;
    std::string_view symbol;  // the symbol's characters, for byte fallback
    if (byte_level) {
      id = byte_ids[p[i]];
      if (id < 0) {
        utf8.clear();
        utf8::append(byte_to_char(p[i]), utf8);
        symbol = utf8;
      }
      ++i;
    } else {
      size_t len = 1;
      const char32_t cp = utf8::decode(p + i, &len);
      if (cp < 128) {
        id = byte_ids[cp];
      } else {
        auto it = char_ids.find(cp);
        id = it == char_ids.end() ? -1 : it->second;
      }
      symbol = word.substr(i, len);
      i += len;
    }
    if (id >= 0) {
      if (unk_pending) sym[m++] = unk_id;
      unk_pending = false;
      sym[m++] = id;
      continue;
    }
    if (byte_fallback) {
      bool all = true;
      for (unsigned char b : symbol) all = all && fallback_ids[b] >= 0;
      if (all) {
        for (unsigned char b : symbol) sym[m++] = fallback_ids[b];
        continue;
      }
    }
    if (unk_id >= 0) {
      if (unk_pending && !fuse_unk) sym[m++] = unk_id;
      unk_pending = true;
    }
  }
  if (unk_pending) sym[m++] = unk_id;
  return m;
}

void BpeModel::encode_small(std::string_view word, std::vector<int32_t>& out) const {
  int32_t sym[2 * kSmallWord];
  int32_t rank[2 * kSmallWord];    // rank[i]: rank of the pair (sym[i], sym[i+1]); INT32_MAX = none
  int32_t merged[2 * kSmallWord];  // merged[i]: the token that pair becomes
  size_t m = initial_symbols(word, sym);
  auto update = [&](size_t i) {
    if (!merges.find(sym[i], sym[i + 1], &rank[i], &merged[i])) rank[i] = INT32_MAX;
  };
  for (size_t i = 0; i + 1 < m; ++i) update(i);
  if (m == 0) return;
  while (m > 1) {
    int32_t best = INT32_MAX;
    size_t bi = 0;
    for (size_t i = 0; i + 1 < m; ++i) {
      if (rank[i] < best) {  // strict: the leftmost of equal ranks wins
        best = rank[i];
        bi = i;
      }
    }
    if (best == INT32_MAX) break;
    sym[bi] = merged[bi];
    for (size_t j = bi + 1; j + 1 < m; ++j) sym[j] = sym[j + 1];
    for (size_t j = bi; j + 2 < m; ++j) {
      rank[j] = rank[j + 1];
      merged[j] = merged[j + 1];
    }
    --m;
    if (bi > 0) update(bi - 1);
    if (bi + 1 < m) update(bi);
  }
  out.insert(out.end(), sym, sym + m);
}

void BpeModel::encode_large(std::string_view word, std::vector<int32_t>& out) const {
  std::vector<int32_t> sym(2 * word.size());
  const size_t n = initial_symbols(word, sym.data());
  if (n == 0) return;
  std::vector<int32_t> prev(n), next(n);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  struct Merge {
    int32_t rank, pos, merged;
    // priority_queue pops the largest: invert so the lowest rank, then lowest position, wins.
    bool operator<(const Merge& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Merge> heap;
  auto push = [&](int32_t pos) {
    int32_t r, mg;
    if (merges.find(sym[pos], sym[next[pos]], &r, &mg)) heap.push(Merge{r, pos, mg});
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i));
  while (!heap.empty()) {
    Merge top = heap.top();
    heap.pop();
    const int32_t p = top.pos;
    if (sym[p] < 0 || next[p] < 0) continue;  // merged away, or now the last symbol
    const int32_t q = next[p];
    int32_t r, mg;
    // Skip stale entries: the pair at p changed since this entry was pushed.
    if (!merges.find(sym[p], sym[q], &r, &mg) || mg != top.merged) continue;
    sym[p] = mg;
    sym[q] = -1;
    next[p] = next[q];
    if (next[q] >= 0) prev[next[q]] = p;
    if (prev[p] >= 0) push(prev[p]);
    if (next[p] >= 0) push(p);
  }
  for (int32_t i = 0; i >= 0; i = next[i]) out.push_back(sym[i]);
}

}  // namespace rcc::tok
