// RELP, the Reliable Event Logging Protocol of rsyslog (librelp's protocol, imrelp/omrelp):
// syslog messages over TCP (or TLS) where the receiver answers every message, so the sender
// knows which ones it took. The client side only, as the syslog output uses it.
//
// A frame:  TXNR SP COMMAND SP DATALEN [SP DATA] LF
//   TXNR     transaction number, 1-999999999, one per command, incremented (after 999999999
//            comes 1); the answer to a command carries its TXNR
//   COMMAND  "open", "syslog", "close" from the client; "rsp" and "serverclose" (TXNR 0) from
//            the server
//   DATALEN  byte length of DATA, 0-9 digits; with 0 there is no SP DATA
// A session starts with "open" (offers: relp_version=0, relp_software=..., commands=syslog),
// answered "200 OK" followed by the server's offers; each "syslog" command carries one message
// and is answered "200 OK" once the receiver has taken it, or "500 <reason>".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace trailwarden::relp {

inline constexpr uint32_t kMaxTxnr = 999999999;
// Largest DATA of a server frame we accept (answers are a few hundred bytes at most).
inline constexpr size_t kMaxResponseData = 64 * 1024;

// The next transaction number after `txnr`.
inline uint32_t next_txnr(uint32_t txnr) { return txnr >= kMaxTxnr ? 1 : txnr + 1; }

// Appends one frame to `out`.
void append_frame(uint32_t txnr, std::string_view command, std::string_view data, std::string& out);

// The DATA of our "open" command.
std::string open_offers(std::string_view software_version);

struct Frame {
  uint32_t txnr = 0;
  std::string command;
  std::string data;
};

// Splits the server's byte stream into frames. feed() the bytes as they come; next() gives the
// frames one by one.
class FrameReader {
 public:
  enum class Result { kFrame, kNeedMore, kError };
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // kFrame: `frame` is the next one; kNeedMore: no complete frame yet; kError: the stream is not
  // RELP (`error` says why); the connection must be dropped.
  Result next(Frame& frame, std::string& error);
  void clear() { buffer_.clear(); }
  bool empty() const { return buffer_.empty(); }

 private:
  std::string buffer_;
};

// A "rsp" DATA: the status code (200 OK, 500 error) and the text after it.
struct Response {
  int code = 0;
  std::string text;  // e.g. "OK", or the reason of a 500; the first line only
};
bool parse_response(std::string_view data, Response& response);

// Whether the server's offers (the DATA of its answer to "open", after the status line) include
// the "syslog" command.
bool offers_syslog(std::string_view data);

}  // namespace trailwarden::relp
