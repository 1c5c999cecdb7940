#include "tokenizer/decoder.h"

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace rcc::tok {

namespace {

std::u32string to_chars(const std::string& s) {
  std::u32string out;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    out.push_back(utf8::decode(p + i, &len));
    i += len;
  }
  return out;
}

std::string to_utf8(std::u32string_view chars) {
  std::string out;
  for (char32_t c : chars) utf8::append(c, out);
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The byte of a "<0xNN>" token (Rust's u8::from_str_radix on the two characters, which also takes
// "+N"), or -1.
int fallback_byte(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  if (t[3] == '+') return hex_value(t[4]);
  const int hi = hex_value(t[3]), lo = hex_value(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

void byte_fallback(std::vector<std::string>& tokens) {
  std::vector<std::string> out;
  std::string bytes;
  auto flush = [&] {
    if (bytes.empty()) return;
    if (utf8::is_valid(bytes)) {
      out.push_back(bytes);
    } else {
      for (size_t k = 0; k < bytes.size(); ++k) out.emplace_back("\xEF\xBF\xBD");  // U+FFFD
    }
    bytes.clear();
  };
  for (auto& t : tokens) {
    const int b = fallback_byte(t);
    if (b >= 0) {
      bytes += static_cast<char>(b);
    } else {
      flush();
      out.push_back(std::move(t));
    }
  }
  flush();
  tokens = std::move(out);
}

void byte_level(std::vector<std::string>& tokens) {
  std::string all, bytes;
  for (const auto& t : tokens) all += token_to_bytes(t, bytes) ? bytes : t;
  tokens.assign(1, utf8::is_valid(all) ? all : utf8::to_valid(all));
}

void replace(const DecoderStep& st, std::vector<std::string>& tokens) {
  std::vector<std::pair<size_t, size_t>> matches;
  for (auto& t : tokens) {
    matches.clear();
    st.pattern.find_all(t, matches);
    if (matches.empty()) continue;
    std::string r;
    size_t prev = 0;
    for (const auto& [b, e] : matches) {
      r.append(t, prev, b - prev);
      r += st.content;
      prev = e;
    }
    r.append(t, prev, std::string::npos);
    t = std::move(r);
  }
}

void metaspace(const DecoderStep& st, std::vector<std::string>& tokens) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::u32string chars = to_chars(tokens[i]), out;
    for (char32_t c : chars) {
      if (c != st.replacement) {
        out.push_back(c);
      } else if (!(i == 0 && st.drop_in_first)) {
        out.push_back(U' ');
      }
    }
    tokens[i] = to_utf8(out);
  }
}

void strip(const DecoderStep& st, std::vector<std::string>& tokens) {
  for (auto& t : tokens) {
    const std::u32string chars = to_chars(t);
    size_t start_cut = 0;
    for (size_t i = 0; i < chars.size() && i < st.start && chars[i] == st.strip; ++i)
      start_cut = i + 1;
    size_t stop_cut = chars.size();
    for (size_t i = 0; i < st.stop && i < chars.size(); ++i) {
      const size_t index = chars.size() - i - 1;
      if (chars[index] != st.strip) break;
      stop_cut = index;
    }
    t = stop_cut > start_cut
            ? to_utf8(std::u32string_view(chars).substr(start_cut, stop_cut - start_cut))
            : std::string();
  }
}

}  // namespace

std::string decode_tokens(const std::vector<DecoderStep>& steps, std::vector<std::string> tokens) {
  for (const DecoderStep& st : steps) {
    switch (st.kind) {
      case DecoderStep::kByteLevel:
        byte_level(tokens);
        break;
      case DecoderStep::kMetaspace:
        metaspace(st, tokens);
        break;
      case DecoderStep::kReplace:
        replace(st, tokens);
        break;
      case DecoderStep::kByteFallback:
        byte_fallback(tokens);
        break;
      case DecoderStep::kFuse: {
        std::string all;
        for (const auto& t : tokens) all += t;
        tokens.assign(1, std::move(all));
        break;
      }
      case DecoderStep::kStrip:
        strip(st, tokens);
        break;
    }
  }
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

}  // namespace rcc::tok
