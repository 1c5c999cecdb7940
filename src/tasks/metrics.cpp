#include "tasks/metrics.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "core/error.h"

namespace rcc {

std::string normalize_answer(const std::string& s) {
  std::string out;
  bool space = false;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c >= 0x80) {
      if (space && !out.empty()) out += ' ';
      out += char(std::tolower(c));
      space = false;
    } else if (std::isspace(c)) {
      space = true;
    }
  }
  return out;
}

std::vector<std::string> squad_words(const std::string& s) {
  std::vector<std::string> words;
  std::string w;
  auto flush = [&] {
    if (!w.empty() && w != "a" && w != "an" && w != "the") words.push_back(w);
    w.clear();
  };
  for (unsigned char c : s) {
    if (std::isspace(c))
      flush();
    else if (std::ispunct(c))
      continue;  // removed, not a separator (as SQuAD's normaliser)
    else
      w += char(std::tolower(c));
  }
  flush();
  return words;
}

double token_f1(const std::string& prediction, const std::string& reference) {
  const auto p = squad_words(prediction), r = squad_words(reference);
  if (p.empty() || r.empty()) return p == r ? 1.0 : 0.0;
  std::map<std::string, int64_t> count;
  for (const auto& w : r) ++count[w];
  int64_t common = 0;
  for (const auto& w : p)
    if (count[w]-- > 0) ++common;
  if (common == 0) return 0.0;
  const double prec = double(common) / double(p.size()), rec = double(common) / double(r.size());
  return 2 * prec * rec / (prec + rec);
}

double rouge_l(const std::string& prediction, const std::string& reference) {
  const auto p = squad_words(prediction), r = squad_words(reference);
  if (p.empty() || r.empty()) return p == r ? 1.0 : 0.0;
  std::vector<int64_t> prev(r.size() + 1, 0), cur(r.size() + 1, 0);
  for (size_t i = 1; i <= p.size(); ++i) {
    for (size_t j = 1; j <= r.size(); ++j)
      cur[j] = p[i - 1] == r[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  const double lcs = double(prev[r.size()]);
  if (lcs == 0) return 0.0;
  const double prec = lcs / double(p.size()), rec = lcs / double(r.size());
  return 2 * prec * rec / (prec + rec);
}

double bleu4(const std::vector<std::vector<int32_t>>& cands,
             const std::vector<std::vector<int32_t>>& refs) {
  RCC_CHECK(cands.size() == refs.size(), "bleu4: ", cands.size(), " candidates for ", refs.size(),
            " references");
  double log_p = 0;
  int64_t c_len = 0, r_len = 0;
  for (size_t i = 0; i < cands.size(); ++i) {
    c_len += int64_t(cands[i].size());
    r_len += int64_t(refs[i].size());
  }
  for (int n = 1; n <= 4; ++n) {
    int64_t match = 0, total = 0;
    for (size_t i = 0; i < cands.size(); ++i) {
      std::map<std::vector<int32_t>, int64_t> ref_counts;
      const auto& r = refs[i];
      for (size_t k = 0; k + size_t(n) <= r.size(); ++k)
        ++ref_counts[std::vector<int32_t>(r.begin() + int64_t(k), r.begin() + int64_t(k) + n)];
      const auto& c = cands[i];
      for (size_t k = 0; k + size_t(n) <= c.size(); ++k) {
        ++total;
        auto it = ref_counts.find(
            std::vector<int32_t>(c.begin() + int64_t(k), c.begin() + int64_t(k) + n));
        if (it != ref_counts.end() && it->second > 0) {
          --it->second;
          ++match;
        }
      }
    }
    if (match == 0 || total == 0) return 0.0;
    log_p += std::log(double(match) / double(total)) / 4;
  }
  const double bp = c_len >= r_len ? 1.0 : std::exp(1.0 - double(r_len) / double(c_len));
  return bp * std::exp(log_p);
}

}  // namespace rcc
