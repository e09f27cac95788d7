// credential_process: splitting like botocore (shlex), the JSON contract, and real scripts run
// through the profile provider (good, bad JSON, Version 2, exit 1, hang, huge output, expiry).
#include "agent/aws/process_credentials.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/unit/aws/fakes.h"

using namespace trailwarden::aws;
using namespace trailwarden::aws::test;

namespace {

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> argv;
  std::string error;
  REQUIRE_MESSAGE(split_command_line(s, argv, error), error);
  return argv;
}

// A directory of executable scripts, removed at the end.
struct Scripts {
  std::string dir;
  Scripts() {
    char tmpl[] = "/tmp/tw-process-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
  }
  ~Scripts() { std::filesystem::remove_all(dir); }
  std::string add(const std::string& name, const std::string& body) {
    const std::string path = dir + "/" + name;
    std::ofstream(path) << "#!/bin/sh\n" << body;
    chmod(path.c_str(), 0755);
    return path;
  }
};

const char* kGood =
    "echo '{\"Version\": 1, \"AccessKeyId\": \"ASIAPROC\", \"SecretAccessKey\": "
    "\"PROC-SECRET\", \"SessionToken\": \"PROC-TOKEN\", \"Expiration\": "
    "\"2024-01-01T01:00:00Z\"}'\n";

}  // namespace

TEST_CASE("credential_process: command lines split like botocore (shlex, no shell)") {
  CHECK(split("/usr/bin/aws_signing_helper credential-process --certificate /etc/c.pem") ==
        std::vector<std::string>{"/usr/bin/aws_signing_helper", "credential-process",
                                 "--certificate", "/etc/c.pem"});
  CHECK(split("  a   'b c'  \"d \\\" e\" f\\ g 'h'\"i\" \"\" ") ==
        std::vector<std::string>{"a", "b c", "d \" e", "f g", "hi", ""});
  CHECK(split("\"a\\nb\"") == std::vector<std::string>{"a\\nb"});  // kept in double quotes
  CHECK(split("$HOME/x | y") == std::vector<std::string>{"$HOME/x", "|", "y"});  // no shell
  std::vector<std::string> argv;
  std::string error;
  CHECK_FALSE(split_command_line("a 'b", argv, error));
  CHECK(error == "no closing quotation");
  CHECK_FALSE(split_command_line("a \"b", argv, error));
  CHECK_FALSE(split_command_line("a\\", argv, error));
  CHECK(error == "trailing backslash");
}

TEST_CASE("credential_process: the JSON contract") {
  Credentials c;
  std::string e;
  REQUIRE(parse_process_credentials(
      "{\"Version\":1,\"AccessKeyId\":\"AKIDP\",\"SecretAccessKey\":\"PROC-SECRET\"}", c, e));
  CHECK(c.access_key_id == "AKIDP");
  CHECK(c.session_token.empty());
  CHECK_FALSE(c.expiration);  // no Expiration: long-term
  REQUIRE(parse_process_credentials(
      "{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"SessionToken\":\"T\","
      "\"Expiration\":\"2024-01-01T01:00:00+00:00\"}",
      c, e));
  CHECK(*c.expiration == utc(2024, 1, 1, 1));
  struct Bad {
    const char* json;
    const char* error;
  };
  for (const Bad& b : {
           Bad{"not json", "its output is not a JSON object"},
           Bad{"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}",
               "its output lacks Version (only Version 1 is supported)"},
           Bad{"{\"Version\":2,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}",
               "its output has Version 2 (only Version 1 is supported)"},
           Bad{"{\"Version\":\"1\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}",
               "its output has Version \"1\" (only Version 1 is supported)"},
           Bad{"{\"Version\":1,\"AccessKeyId\":\"A\"}",
               "its output lacks AccessKeyId or SecretAccessKey"},
           Bad{"{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S S\"}",
               "its output has an empty or malformed credential value"},
           Bad{"{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\","
               "\"Expiration\":\"soon\"}",
               "its output has an unreadable Expiration 'soon'"},
       }) {
    CHECK_FALSE(parse_process_credentials(b.json, c, e));
    CHECK_MESSAGE(e == b.error, b.json);
  }
}

TEST_CASE("credential_process in a profile: scripts") {
  LogCapture log_capture;
  Scripts scripts;
  World w;
  w.env = {{"HOME", "/h"}, {"TW_TEST_VAR", "from-env"}};
  auto profile = [&](const std::string& command) {
    w.files["/h/.aws/config"] = "[default]\ncredential_process = " + command + "\n";
    return make_profile_provider(w.context(), CredentialsOptions{});
  };
  Credentials c;
  std::string m;

  SUBCASE("good, with arguments and the agent's environment") {
    const std::string good =
        scripts.add("good.sh", "[ \"$1\" = 'a b' ] && [ \"$TW_TEST_VAR\" = from-env ] || exit 3\n" +
                                   std::string(kGood));
    auto p = profile(good + " 'a b'");
    REQUIRE_MESSAGE(p->fetch(c, m) == FetchStatus::kOk, m);
    CHECK(c.access_key_id == "ASIAPROC");
    CHECK(c.secret_access_key == "PROC-SECRET");
    CHECK(c.session_token == "PROC-TOKEN");
    CHECK(*c.expiration == utc(2024, 1, 1, 1));
    CHECK(c.provider == "profile default (credential_process)");
  }
  SUBCASE("botocore's order: credentials-file keys, credential_process, config-file keys") {
    const std::string good = scripts.add("good.sh", kGood);
    // Keys in the config file come after credential_process (botocore's ConfigProvider is
    // after its ProcessProvider).
    w.files["/h/.aws/config"] =
        "[default]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = S\n"
        "credential_process = " + good + "\n";
    auto p = make_profile_provider(w.context(), CredentialsOptions{});
    REQUIRE_MESSAGE(p->fetch(c, m) == FetchStatus::kOk, m);
    CHECK(c.access_key_id == "ASIAPROC");
    CHECK(c.provider == "profile default (credential_process)");
    // Keys in the credentials file come first (SharedCredentialProvider).
    w.files["/h/.aws/config"] = "[default]\ncredential_process = /nonexistent\n";
    w.files["/h/.aws/credentials"] =
        "[default]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = S\n";
    p = make_profile_provider(w.context(), CredentialsOptions{});
    REQUIRE_MESSAGE(p->fetch(c, m) == FetchStatus::kOk, m);
    CHECK(c.access_key_id == "AKIDCREDS");
    // A key id in the config file, overridden by the credentials file, counts as the latter.
    w.files["/h/.aws/config"] =
        "[default]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = S\n"
        "credential_process = /nonexistent\n";
    p = make_profile_provider(w.context(), CredentialsOptions{});
    REQUIRE_MESSAGE(p->fetch(c, m) == FetchStatus::kOk, m);
    CHECK(c.access_key_id == "AKIDCREDS");
  }
  SUBCASE("non-zero exit: status and a scrubbed stderr excerpt, never stdout") {
    const std::string bad = scripts.add(
        "bad.sh", std::string(kGood) +
                      "echo 'signing failed for PROC-SECRET: certificate expired' >&2\nexit 7\n");
    auto p = profile(bad);
    CHECK(p->fetch(c, m) == FetchStatus::kFailed);
    CHECK(m == "profile 'default': credential_process '" + bad +
                   "' exited with status 7; stderr: signing failed for [redacted]: certificate "
                   "expired");
    CHECK(m.find("PROC-TOKEN") == std::string::npos);
    CHECK(m.find("ASIAPROC") == std::string::npos);
  }
  SUBCASE("bad JSON and Version 2") {
    auto p = profile(scripts.add("nojson.sh", "echo hello PROC-SECRET\n"));
    CHECK(p->fetch(c, m) == FetchStatus::kFailed);
    CHECK(m.ends_with(": its output is not a JSON object"));
    CHECK(m.find("PROC-SECRET") == std::string::npos);
    p = profile(scripts.add(
        "v2.sh", "echo '{\"Version\":2,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}'\n"));
    CHECK(p->fetch(c, m) == FetchStatus::kFailed);
    CHECK(m.ends_with(": its output has Version 2 (only Version 1 is supported)"));
  }
  SUBCASE("a hanging command is killed with its process group at the timeout") {
    const std::string pidfile = scripts.dir + "/child.pid";
    const std::string hang =
        scripts.add("hang.sh", "sleep 30 &\necho $! > " + pidfile + "\nwait\n");
    CredentialsOptions o;
    o.process_timeout = std::chrono::milliseconds(300);
    w.files["/h/.aws/config"] = "[default]\ncredential_process = " + hang + "\n";
    auto p = make_profile_provider(w.context(), o);
    const auto start = std::chrono::steady_clock::now();
    CHECK(p->fetch(c, m) == FetchStatus::kFailed);
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(took < std::chrono::seconds(5));
    CHECK(m.find("did not finish within 0 s (its process group was killed)") != std::string::npos);
    // The grandchild (sleep) was killed too.
    std::ifstream in(pidfile);
    pid_t child = 0;
    in >> child;
    REQUIRE(child > 0);
    bool gone = false;
    for (int i = 0; i < 200 && !gone; ++i) {
      gone =
          kill(child, 0) != 0 || std::filesystem::exists("/proc/" + std::to_string(child)) == false;
      if (!gone) {
        // A zombie reparented to init is gone for our purpose once it is not running.
        std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
        std::string pid_s, comm, state;
        stat >> pid_s >> comm >> state;
        gone = state == "Z" || state.empty();
      }
      if (!gone) usleep(10000);
    }
    CHECK(gone);
  }
  SUBCASE("the command inherits none of the agent's descriptors, only 0, 1 and 2") {
    // A descriptor opened without O_CLOEXEC, as libcurl's pooled sockets are.
    const int leaked = ::open("/dev/null", O_RDONLY);
    REQUIRE(leaked > 2);
    // The shell (dash) keeps the script itself on fd 10 or above; 3..9 and `leaked` must be
    // closed. Checked with -e on /proc (no descriptor of its own opened for the check).
    const std::string script = scripts.add(
        "fds.sh", "for fd in 3 4 5 6 7 8 9 " + std::to_string(leaked) +
                      "; do [ -e /proc/$$/fd/$fd ] && { echo \"fd $fd is open\" >&2; "
                      "exit 9; }; done\n" + std::string(kGood));
    auto p = profile(script);
    const FetchStatus status = p->fetch(c, m);
    ::close(leaked);
    CHECK_MESSAGE(status == FetchStatus::kOk, m);
  }
  SUBCASE("a cancel (shutdown) kills a hanging command at once") {
    const std::string hang = scripts.add("hang2.sh", "sleep 30\n");
    std::atomic<bool> cancel{false};
    w.cancel = &cancel;
    auto p = profile(hang);
    std::thread stopper([&] {
      usleep(200000);
      cancel = true;
    });
    const auto start = std::chrono::steady_clock::now();
    CHECK(p->fetch(c, m) == FetchStatus::kFailed);
    stopper.join();
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
    CHECK(m.ends_with("was stopped (shutting down)"));
  }
  SUBCASE("huge output is cut off") {
    auto p = profile(scripts.add("huge.sh", "yes PROC-SECRET\n"));
    CHECK(p->fetch(c, m) == FetchStatus::kFailed);
    CHECK(m.ends_with("wrote more than 65536 bytes to stdout (killed)"));
  }
  SUBCASE("a command line that cannot be split is a configuration error") {
    auto p = profile("/bin/creds 'unterminated");
    CHECK(p->fetch(c, m) == FetchStatus::kInvalid);
    CHECK(m ==
          "profile 'default': credential_process cannot be split into words: no closing "
          "quotation");
  }
  SUBCASE("expiry: the chain runs the command again before the credentials expire") {
    const std::string counter = scripts.dir + "/runs";
    const std::string rotating = scripts.add(
        "rotating.sh", "n=$(cat " + counter + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " +
                           counter +
                           "\necho \"{\\\"Version\\\":1,\\\"AccessKeyId\\\":\\\"ASIA$n\\\","
                           "\\\"SecretAccessKey\\\":\\\"S\\\",\\\"SessionToken\\\":\\\"T\\\","
                           "\\\"Expiration\\\":\\\"2024-01-01T01:00:00Z\\\"}\"\n");
    w.files["/h/.aws/config"] = "[default]\ncredential_process = " + rotating + "\n";
    auto source = make_credentials_source(w.context(), CredentialsOptions{});
    std::string error;
    REQUIRE_MESSAGE(source->get(c, error), error);
    CHECK(c.access_key_id == "ASIA1");
    w.now = utc(2024, 1, 1, 0, 50);  // still fresh (refresh 5 minutes before 01:00)
    REQUIRE(source->get(c, error));
    CHECK(c.access_key_id == "ASIA1");
    w.now = utc(2024, 1, 1, 0, 56);  // inside the refresh window
    REQUIRE(source->get(c, error));
    CHECK(c.access_key_id == "ASIA2");
  }
}
