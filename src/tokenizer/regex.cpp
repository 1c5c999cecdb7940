#include "tokenizer/regex.h"

#include <cstdio>
#include <optional>

#include "core/error.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace rcc::tok {

namespace {

// White_Space (PropList.txt), what Oniguruma's \s matches; stable since Unicode 6.3.
constexpr const char* kSpaceBody =
    "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}";

void append_range(std::string& out, char32_t first, char32_t last) {
  char buf[40];
  if (first == last) {
    std::snprintf(buf, sizeof buf, "\\x{%X}", static_cast<unsigned>(first));
  } else {
    std::snprintf(buf, sizeof buf, "\\x{%X}-\\x{%X}", static_cast<unsigned>(first),
                  static_cast<unsigned>(last));
  }
  out += buf;
}

using Ranges = std::vector<std::pair<char32_t, char32_t>>;

void add_code_point(Ranges& r, char32_t cp) {
  if (!r.empty() && r.back().second + 1 == cp) {
    r.back().second = cp;
  } else {
    r.emplace_back(cp, cp);
  }
}

// The code points PCRE2 puts in \p{<name>} (its own Unicode tables), as ranges: every code point is
// matched in one pass over a text holding them all.
std::vector<bool> pcre2_property_members(const char* name) {
  std::string text;
  text.reserve(4 * 0x110000);
  std::vector<char32_t> cp_at;  // code point of each byte offset's character (start bytes only)
  cp_at.reserve(4 * 0x110000);
  for (char32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const size_t before = text.size();
    utf8::append(cp, text);
    cp_at.resize(text.size(), cp);
    (void)before;
  }
  const std::string pat = std::string("\\p{") + name + "}+";
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pat.c_str()), pat.size(),
                                   PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
  RCC_CHECK(code != nullptr, "PCRE2 cannot compile ", pat);
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  std::vector<bool> member(0x110000, false);
  size_t pos = 0;
  while (pos < text.size()) {
    int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), pos,
                         PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc < 0) break;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    for (size_t b = ov[0]; b < ov[1]; ++b) member[cp_at[b]] = true;
    pos = ov[1] > pos ? ov[1] : pos + 1;
  }
  pcre2_match_data_free(md);
  pcre2_code_free(code);
  return member;
}

// The body of a character class (no brackets) matching exactly the code points Hugging Face's
// regex puts in \p{L} (cls kLetter) or \p{N} (kNumber).
std::string make_class_body(const char* name, CharClass cls) {
  const std::vector<bool> pcre = pcre2_property_members(name);
  Ranges extra, hf;
  bool pcre_only = false;
  for (char32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const bool in_hf = char_class(cp) == cls;
    if (in_hf) add_code_point(hf, cp);
    if (in_hf && !pcre[cp]) add_code_point(extra, cp);
    if (!in_hf && pcre[cp]) pcre_only = true;
  }
  std::string body;
  if (!pcre_only) {  // PCRE2's set plus what its older tables miss
    body = std::string("\\p{") + name + "}";
    for (const auto& [a, b] : extra) append_range(body, a, b);
  } else {  // the sets disagree both ways: spell the whole set out
    for (const auto& [a, b] : hf) append_range(body, a, b);
  }
  return body;
}

const std::string& letter_body() {
  static const std::string body = make_class_body("L", kLetter);
  return body;
}
const std::string& number_body() {
  static const std::string body = make_class_body("N", kNumber);
  return body;
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

class Translator {
 public:
  Translator(std::string_view p, const std::string& field) : p_(p), field_(field) {}

  std::string run() {
    while (i_ < p_.size()) {
      const char c = p_[i_];
      if (c == '\\') {
        escape();
      } else if (in_class_) {
        class_char(c);
      } else {
        plain_char(c);
      }
    }
    if (in_class_) bad("unterminated character class");
    return out_;
  }

 private:
  [[noreturn]] void bad(const std::string& what) const {
    fail(field_, ": ", what, " at offset ", i_, " of the pattern (not supported)");
  }

  // A set: inside a class its body is inserted; outside it becomes a (possibly negated) class.
  void set(const std::string& body, bool negate) {
    if (in_class_) {
      if (negate) bad("a negated class escape inside a character class");
      out_ += body;
    } else {
      out_ += negate ? "[^" : "[";
      out_ += body;
      out_ += ']';
    }
  }

  void escape() {
    if (i_ + 1 >= p_.size()) bad("a trailing backslash");
    const char d = p_[i_ + 1];
    const size_t start = i_;
    i_ += 2;
    switch (d) {
      case 's':
        return set(kSpaceBody, false);
      case 'S':
        return set(kSpaceBody, true);
      case 'w':
      case 'W':
        return set(letter_body() + "\\p{M}\\p{Nd}\\p{Pc}", d == 'W');
      case 'h':
      case 'H':
        return set("0-9a-fA-F", d == 'H');
      case 'v':
        out_ += "\\x{B}";
        return;
      case 'u': {
        if (i_ + 4 > p_.size() || !is_hex(p_[i_]) || !is_hex(p_[i_ + 1]) || !is_hex(p_[i_ + 2]) ||
            !is_hex(p_[i_ + 3]))
          bad("\\u without four hex digits");
        out_ += "\\x{" + std::string(p_.substr(i_, 4)) + "}";
        i_ += 4;
        return;
      }
      case 'p':
      case 'P':
        return property(d == 'P', start);
      case 'b':
      case 'B':
      case 'R':
      case 'X':
      case 'K':
      case 'G':
      case 'N':
      case 'O':
      case 'y':
      case 'Y':
      case 'k':
      case 'g':
      case 'A':
      case 'z':
      case 'Z':
      case 'Q':
      case 'E':
        i_ = start;
        bad(std::string("the escape \\") + d);
      default:
        out_ += '\\';
        out_ += d;
        return;
    }
  }

  void property(bool negate, size_t start) {
    std::string name;
    if (i_ < p_.size() && p_[i_] == '{') {
      const size_t close = p_.find('}', i_);
      if (close == std::string_view::npos) bad("\\p without a closing brace");
      name = std::string(p_.substr(i_ + 1, close - i_ - 1));
      i_ = close + 1;
    } else if (i_ < p_.size()) {
      name = std::string(1, p_[i_++]);
    }
    if (!name.empty() && name[0] == '^') {
      negate = !negate;
      name.erase(0, 1);
    }
    if (name == "L" || name == "Letter") return set(letter_body(), negate);
    if (name == "N" || name == "Number") return set(number_body(), negate);
    // Other properties use PCRE2's tables (Unicode version of the installed library).
    (void)start;
    out_ += negate ? "\\P{" : "\\p{";
    out_ += name;
    out_ += '}';
  }

  void class_char(char c) {
    if (c == '[') bad("a nested character class or POSIX bracket");
    if (c == '&' && i_ + 1 < p_.size() && p_[i_ + 1] == '&') bad("a class intersection (&&)");
    if (c == ']' && i_ != class_first_) in_class_ = false;
    out_ += c;
    ++i_;
  }

  void plain_char(char c) {
    switch (c) {
      case '[':
        out_ += '[';
        ++i_;
        if (i_ < p_.size() && p_[i_] == '^') {
          out_ += '^';
          ++i_;
        }
        in_class_ = true;
        class_first_ = i_;  // a ']' here is a literal
        return;
      case '^':
      case '$':
        bad(std::string("the anchor ") + c);
      case '(':
        group();
        return;
      case '{':
        if (i_ + 1 < p_.size() && p_[i_ + 1] == ',') {  // Oniguruma's {,n} is {0,n}
          out_ += "{0";
          ++i_;
          return;
        }
        out_ += c;
        ++i_;
        return;
      default:
        out_ += c;
        ++i_;
    }
  }

  void group() {
    out_ += '(';
    ++i_;
    if (i_ >= p_.size() || p_[i_] != '?') return;
    // (?:  (?=  (?!  (?<=  (?<!  (?>  (?<name>  (?#...)  and flag groups.
    const char e = i_ + 1 < p_.size() ? p_[i_ + 1] : '\0';
    if (e == ':' || e == '=' || e == '!' || e == '>' || e == '<' || e == '#') {
      out_ += '?';
      ++i_;
      return;
    }
    size_t j = i_ + 1;
    while (j < p_.size() && p_[j] != ':' && p_[j] != ')') {
      if (p_[j] != 'i' && p_[j] != '-') {
        i_ = j;
        bad(std::string("the inline option ") + p_[j]);
      }
      ++j;
    }
    out_ += '?';
    ++i_;
  }

  std::string_view p_;
  const std::string& field_;
  std::string out_;
  size_t i_ = 0;
  bool in_class_ = false;
  size_t class_first_ = 0;
};

struct JitStackDeleter {
  void operator()(pcre2_jit_stack* s) const { pcre2_jit_stack_free(s); }
};
struct MatchContextDeleter {
  void operator()(pcre2_match_context* c) const { pcre2_match_context_free(c); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* d) const { pcre2_match_data_free(d); }
};

// Per-thread match state shared by every pattern: one ovector pair and a JIT stack that may grow
// to 16 MB (deep backtracking on long runs).
struct ThreadMatchState {
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> md{pcre2_match_data_create(1, nullptr)};
  std::unique_ptr<pcre2_jit_stack, JitStackDeleter> stack{
      pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, nullptr)};
  std::unique_ptr<pcre2_match_context, MatchContextDeleter> ctx{[this] {
    pcre2_match_context* c = pcre2_match_context_create(nullptr);
    if (c && stack) pcre2_jit_stack_assign(c, nullptr, stack.get());
    return c;
  }()};
};

ThreadMatchState& thread_state() {
  thread_local ThreadMatchState st;
  RCC_CHECK(st.md && st.ctx, "out of memory (PCRE2 match state)");
  return st;
}

}  // namespace

std::string translate_onig_pattern(std::string_view onig, const std::string& field) {
  return Translator(onig, field).run();
}

Regex::Regex(std::string_view onig, const std::string& field)
    : translated_(translate_onig_pattern(onig, field)) {
  pcre2_compile_context* cc = pcre2_compile_context_create(nullptr);
  RCC_CHECK(cc != nullptr, "out of memory (PCRE2 compile context)");
  pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated_.data()), translated_.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &err, &off, cc);
  pcre2_compile_context_free(cc);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail(field, ": the pattern does not compile (", reinterpret_cast<const char*>(msg), ")");
  }
  code_ = code;
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() {
  pcre2_code_free(static_cast<pcre2_code*>(code_));
}

void Regex::find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const {
  ThreadMatchState& st = thread_state();
  auto* code = static_cast<const pcre2_code*>(code_);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  size_t last_end = 0;
  std::optional<size_t> last_match;
  while (last_end <= s.size()) {
    int rc = jit_ ? pcre2_jit_match(code, subject, s.size(), last_end, 0, st.md.get(), st.ctx.get())
                  : PCRE2_ERROR_JIT_BADOPTION;
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {  // JIT stack exhausted, or no JIT: interpreter
      rc = pcre2_match(code, subject, s.size(), last_end, PCRE2_NO_JIT | PCRE2_NO_UTF_CHECK,
                       st.md.get(), nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    RCC_CHECK(rc >= 0, "regex match failed (PCRE2 error ", rc, ") for pattern ", translated_);
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.md.get());
    const size_t b = ov[0], e = ov[1];
    if (b == e && last_match == e) {  // no empty match right after the previous match
      size_t len = 1;
      if (last_end < s.size())
        len = utf8::sequence_length(reinterpret_cast<const unsigned char*>(s.data()) + last_end,
                                    s.size() - last_end);
      last_end += len ? len : 1;
      continue;
    }
    out.emplace_back(b, e);
    last_end = e;
    last_match = e;
  }
}

}  // namespace rcc::tok
