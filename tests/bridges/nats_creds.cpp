// Reading a NATS credentials file: the JWT and the user's seed, found the way
// nats.c finds them, and errors that say what is missing without showing
// what the file holds.

#include <fstream>

#include <boost/test/unit_test.hpp>

#include "bridges/nats_creds.hpp"
#include "tests/child_process.hpp"
#include "test_util.hpp"

using namespace orch;
using namespace orch::test;

namespace {

const std::string jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGki"
                        "OiJBQkMifQ.c2lnbmF0dXJl-_x";
const std::string seed = "SUAG45RWCJBPPDOWFKGUD7226SOAXZXMNP3ZESRO3SXOLY6OJKYD4E6DAM";

/// A file as `nsc` writes one: frames, a notice between the sections.
std::string nsc_file(const std::string& eol = "\n") {
  return "-----BEGIN NATS USER JWT-----" + eol + jwt + eol
         + "------END NATS USER JWT------" + eol + eol
         + "************************* IMPORTANT *************************"
         + eol + "NKEY Seed printed below can be used to sign and prove "
         + "identity." + eol + eol + "-----BEGIN USER NKEY SEED-----" + eol
         + seed + eol + "------END USER NKEY SEED------" + eol + eol
         + "*************************************************************"
         + eol;
}

} // namespace

BOOST_AUTO_TEST_SUITE(nats_creds)

BOOST_AUTO_TEST_CASE(the_jwt_and_the_seed_are_read_from_their_frames) {
  for (auto eol : {"\n", "\r\n"}) {
    auto creds = parse_nats_creds(nsc_file(eol));
    BOOST_REQUIRE_MESSAGE(creds, why(creds));
    BOOST_CHECK_EQUAL(creds->jwt, jwt);
    BOOST_CHECK_EQUAL(creds->seed, seed);
  }
  // Blank lines before a closing frame are allowed.
  auto spaced = parse_nats_creds("-----BEGIN NATS USER JWT-----\n" + jwt
                                 + "\n\n------END NATS USER JWT------\n"
                                   "-----BEGIN USER NKEY SEED-----\n"
                                 + seed + "\n------END USER NKEY SEED------");
  BOOST_REQUIRE_MESSAGE(spaced, why(spaced));
  BOOST_CHECK_EQUAL(spaced->seed, seed);
}

BOOST_AUTO_TEST_CASE(what_is_missing_is_named_and_nothing_is_shown) {
  auto empty = parse_nats_creds("");
  BOOST_REQUIRE(!empty);
  BOOST_CHECK_NE(render(empty.error()).find("no user JWT"), std::string::npos);
  auto unframed = parse_nats_creds(jwt + "\n" + seed + "\n");
  BOOST_REQUIRE(!unframed);
  BOOST_CHECK_NE(render(unframed.error()).find("no user JWT"),
                 std::string::npos);
  auto no_seed = parse_nats_creds("-----BEGIN NATS USER JWT-----\n" + jwt
                                  + "\n------END NATS USER JWT------\n");
  BOOST_REQUIRE(!no_seed);
  BOOST_CHECK_NE(render(no_seed.error()).find("no user nkey seed"),
                 std::string::npos);
  BOOST_CHECK_EQUAL(render(no_seed.error()).find(jwt), std::string::npos);
  // An account's seed (SA...) is not a user's.
  auto file = nsc_file();
  auto account = file;
  account.replace(account.find(seed), 2, "SA");
  auto wrong = parse_nats_creds(account);
  BOOST_REQUIRE(!wrong);
  BOOST_CHECK_NE(render(wrong.error()).find("no user nkey seed"),
                 std::string::npos);
  BOOST_CHECK_EQUAL(render(wrong.error()).find(seed.substr(2)),
                    std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_file_is_named_in_its_errors) {
  scratch_dir dir;
  auto missing = read_nats_creds(dir.path + "/absent.creds");
  BOOST_REQUIRE(!missing);
  BOOST_CHECK_NE(render(missing.error())
                   .find("NATS_CREDS file " + dir.path + "/absent.creds"),
                 std::string::npos);
  {
    std::ofstream out{dir.path + "/half.creds"};
    out << "-----BEGIN NATS USER JWT-----\n" << jwt
        << "\n------END NATS USER JWT------\n";
  }
  auto half = read_nats_creds(dir.path + "/half.creds");
  BOOST_REQUIRE(!half);
  BOOST_CHECK_NE(render(half.error()).find("half.creds holds no user nkey"),
                 std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
