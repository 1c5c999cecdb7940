#include "tokenizer/pipeline.h"

#include "tokenizer/unicode.h"

namespace rcc::tok {

Pattern Pattern::literal(std::string s) {
  Pattern p;
  p.literal_ = std::move(s);
  return p;
}

Pattern Pattern::regex(std::string_view onig, const std::string& field) {
  Pattern p;
  p.regex_ = std::make_shared<const Regex>(onig, field);
  return p;
}

void Pattern::find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const {
  if (regex_) {
    regex_->find_all(s, out);
    return;
  }
  if (literal_.empty()) return;  // refused by the loader; matches nothing
  for (size_t pos = s.find(literal_); pos != std::string_view::npos;
       pos = s.find(literal_, pos + literal_.size())) {
    out.emplace_back(pos, pos + literal_.size());
  }
}

bool normalize(const std::vector<NormalizerStep>& steps, std::string_view s, std::string& out) {
  bool changed = false;
  std::string tmp;
  std::vector<std::pair<size_t, size_t>> matches;
  for (const NormalizerStep& st : steps) {
    std::string_view cur = changed ? std::string_view(out) : s;
    switch (st.kind) {
      case NormalizerStep::kNfc:
        if (!nfc_if_changed(cur, tmp)) continue;
        break;
      case NormalizerStep::kPrepend:
        if (cur.empty()) continue;
        tmp.assign(st.text);
        tmp += cur;
        break;
      case NormalizerStep::kReplace: {
        matches.clear();
        st.pattern.find_all(cur, matches);
        if (matches.empty()) continue;
        tmp.clear();
        size_t prev = 0;
        for (const auto& [b, e] : matches) {
          tmp.append(cur.substr(prev, b - prev));
          tmp += st.text;
          prev = e;
        }
        tmp.append(cur.substr(prev));
        break;
      }
    }
    out.swap(tmp);
    changed = true;
  }
  return changed;
}

}  // namespace rcc::tok
