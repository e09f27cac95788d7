#include "outputs/syslog/relp.h"

#include <fmt/format.h>

namespace trailwarden::relp {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads up to `max_digits` digits at `pos`; false if none or too many.
bool read_number(std::string_view s, size_t& pos, size_t max_digits, uint64_t& value) {
  const size_t start = pos;
  value = 0;
  while (pos < s.size() && is_digit(s[pos])) {
    if (pos - start == max_digits) return false;
    value = value * 10 + static_cast<uint64_t>(s[pos] - '0');
    ++pos;
  }
  return pos > start;
}

}  // namespace

void append_frame(uint32_t txnr, std::string_view command, std::string_view data,
                  std::string& out) {
  fmt::format_to(std::back_inserter(out), "{} {} {}", txnr, command, data.size());
  if (!data.empty()) {
    out.push_back(' ');
    out.append(data);
  }
  out.push_back('\n');
}

std::string open_offers(std::string_view software_version) {
  return fmt::format("relp_version=0\nrelp_software=trailwarden,{},https://github.com/trailwarden\n"
                     "commands=syslog",
                     software_version);
}

FrameReader::Result FrameReader::next(Frame& frame, std::string& error) {
  const std::string_view s = buffer_;
  size_t pos = 0;
  uint64_t txnr = 0, length = 0;
  // Each step either needs more bytes (end of buffer) or finds the stream broken.
  auto more_or_bad = [&](const char* what) {
    if (pos >= s.size()) return Result::kNeedMore;
    std::string start;  // the receiver's bytes, printable (they go to the log)
    for (char c : s.substr(0, std::min<size_t>(s.size(), 40)))
      if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
        start.push_back(c);
      else
        fmt::format_to(std::back_inserter(start), "\\x{:02x}", static_cast<unsigned char>(c));
    error = fmt::format("not a RELP frame from the receiver ({}): \"{}\"", what, start);
    return Result::kError;
  };
  if (!read_number(s, pos, 9, txnr) || pos >= s.size()) return more_or_bad("transaction number");
  if (s[pos] != ' ') return more_or_bad("transaction number");
  ++pos;
  const size_t command_start = pos;
  while (pos < s.size() && pos - command_start < 32 &&
         ((s[pos] >= 'a' && s[pos] <= 'z') || (s[pos] >= 'A' && s[pos] <= 'Z')))
    ++pos;
  if (pos == command_start || pos >= s.size() || s[pos] != ' ') return more_or_bad("command");
  const std::string_view command = s.substr(command_start, pos - command_start);
  ++pos;
  if (!read_number(s, pos, 9, length) || pos >= s.size()) return more_or_bad("data length");
  if (length > kMaxResponseData) {
    error = fmt::format("RELP frame from the receiver too large ({} bytes of data)", length);
    return Result::kError;
  }
  if (length > 0) {
    if (s[pos] != ' ') return more_or_bad("data length");
    ++pos;
    if (s.size() - pos < length + 1) return Result::kNeedMore;
  }
  const std::string_view data = s.substr(pos, length);
  pos += length;
  if (pos >= s.size()) return Result::kNeedMore;
  if (s[pos] != '\n') return more_or_bad("frame trailer");
  ++pos;
  frame.txnr = static_cast<uint32_t>(txnr);
  frame.command.assign(command);
  frame.data.assign(data);
  buffer_.erase(0, pos);
  return Result::kFrame;
}

bool parse_response(std::string_view data, Response& response) {
  size_t pos = 0;
  uint64_t code = 0;
  if (!read_number(data, pos, 3, code) || pos != 3) return false;
  if (pos < data.size() && data[pos] != ' ' && data[pos] != '\n') return false;
  response.code = static_cast<int>(code);
  if (pos < data.size() && data[pos] == ' ') ++pos;
  const size_t eol = data.find('\n', pos);
  response.text.assign(data.substr(pos, eol == std::string_view::npos ? eol : eol - pos));
  return true;
}

bool offers_syslog(std::string_view data) {
  size_t start = 0;
  while (start <= data.size()) {
    size_t eol = data.find('\n', start);
    if (eol == std::string_view::npos) eol = data.size();
    std::string_view line = data.substr(start, eol - start);
    if (line.starts_with("commands=")) {
      line.remove_prefix(9);
      size_t s = 0;
      while (s <= line.size()) {
        size_t comma = line.find(',', s);
        if (comma == std::string_view::npos) comma = line.size();
        if (line.substr(s, comma - s) == "syslog") return true;
        s = comma + 1;
      }
    }
    start = eol + 1;
  }
  return false;
}

}  // namespace trailwarden::relp
