#include "core/text_file.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace rcc {

bool is_gzip(const std::string& data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1f &&
         static_cast<unsigned char>(data[1]) == 0x8b;
}

std::string gunzip(const std::string& data, const std::string& origin) {
  std::string out;
  size_t off = 0;  // the next input byte not yet given to zlib
  // One gzip member per pass; members follow each other until the input ends.
  while (off < data.size()) {
    RCC_CHECK(is_gzip(data.substr(off, 2)), origin, ": data after the end of the gzip stream");
    z_stream z{};
    RCC_CHECK(inflateInit2(&z, 16 + MAX_WBITS) == Z_OK, origin, ": cannot start gzip decoding");
    char buf[1 << 16];
    for (bool end = false; !end;) {
      if (z.avail_in == 0) {  // input in pieces of at most 1 GiB (zlib counts in 32 bits)
        if (off >= data.size()) {
          inflateEnd(&z);
          fail(origin, ": truncated gzip data");
        }
        const size_t n = std::min<size_t>(data.size() - off, size_t(1) << 30);
        z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + off));
        z.avail_in = uInt(n);
        off += n;
      }
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof buf;
      const int rc = inflate(&z, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        end = true;
      } else if (rc != Z_OK && !(rc == Z_BUF_ERROR && z.avail_in == 0)) {
        const std::string why = z.msg ? z.msg : "inflate failed";
        inflateEnd(&z);
        fail(origin, ": corrupt gzip data (", why, ")");
      }
      out.append(buf, sizeof buf - z.avail_out);
    }
    off -= z.avail_in;  // bytes after this member: the next member, if any
    inflateEnd(&z);
  }
  return out;
}

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  RCC_CHECK(!std::filesystem::is_directory(path, ec), path, ": is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  RCC_CHECK(in.good(), path, ": cannot open (", std::strerror(errno), ")");
  std::ostringstream ss;
  ss << in.rdbuf();
  RCC_CHECK(!in.bad(), path, ": read error");
  std::string data = ss.str();
  return is_gzip(data) ? gunzip(data, path) : data;
}

}  // namespace rcc
