// Answer metrics.
//   normalize_answer: lower case, punctuation removed, whitespace collapsed (exact match).
//   f1 / rouge_l: over words of the SQuAD normalisation (lower case, punctuation and the articles
//     a/an/the removed): token F1 = harmonic mean of the bag-of-words precision and recall;
//     ROUGE-L = F-measure (β = 1) of the longest common subsequence.
//   bleu4: corpus BLEU-4 (Papineni et al.) over token-id sequences: modified n-gram precisions for
//     n = 1..4, geometric mean with uniform weights, brevity penalty exp(1 − r/c) when c < r; 0 if
//     any precision is 0 (no smoothing).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rcc {

std::string normalize_answer(const std::string& s);
std::vector<std::string> squad_words(const std::string& s);
double token_f1(const std::string& prediction, const std::string& reference);
double rouge_l(const std::string& prediction, const std::string& reference);
double bleu4(const std::vector<std::vector<int32_t>>& candidates,
             const std::vector<std::vector<int32_t>>& references);

}  // namespace rcc
