#include "tests/llm_stub/chat_completions.hpp"

#include <chrono>
#include <cstring>

namespace orch::test::stub {

namespace {

using json = nlohmann::json;

/// Text the LLM architect puts in its system prompt.
constexpr std::string_view winner_marker = "Answer in the form WINNER: <id>";

int64_t epoch_s() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

/// Serializes without throwing on invalid UTF-8 in echoed user text.
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// std::isspace in the "C" locale, without a library call per character
/// (count_words walks every prompt: it was a twentieth of the stub's CPU);
/// the server's one notion of whitespace.
constexpr bool is_space(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}

/// Flattens a message content: a string, null, or an array of parts.
std::string content_text(const json& content) {
  if (content.is_string())
    return content.get<std::string>();
  std::string out;
  if (content.is_array()) {
    for (const auto& part : content) {
      if (part.is_object() && part.contains("text")
          && part["text"].is_string()) {
        if (!out.empty())
          out += '\n';
        out += part["text"].get<std::string>();
      }
    }
  }
  return out;
}

/// First `max_chars` UTF-8 code points of `s`, line breaks as spaces.
std::string headline(std::string_view s, size_t max_chars) {
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n')
      continue; // CRLF is one line break
    bool continuation = (static_cast<unsigned char>(c) & 0xC0) == 0x80;
    if (!continuation) {
      if (chars == max_chars)
        break;
      ++chars;
    }
    out += (c == '\n' || c == '\r') ? ' ' : c;
  }
  return out;
}

std::string trim_left(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t'))
    ++i;
  return std::string{s.substr(i)};
}

/// The first whitespace-delimited token after "CANDIDATE " in `text`, with
/// trailing punctuation (":,;.)]") removed; "" when absent.
std::string candidate_id(std::string_view text) {
  constexpr std::string_view key = "CANDIDATE ";
  auto pos = text.find(key);
  if (pos == std::string_view::npos)
    return {};
  pos += key.size();
  while (pos < text.size() && is_space(text[pos]))
    ++pos;
  auto end = pos;
  while (end < text.size() && !is_space(text[end]))
    ++end;
  std::string id{text.substr(pos, end - pos)};
  while (!id.empty() && std::strchr(":,;.)]", id.back()) != nullptr)
    id.pop_back();
  return id;
}

} // namespace

size_t count_words(std::string_view s) {
  size_t n = 0;
  bool in_word = false;
  for (char c : s) {
    bool space = is_space(c);
    if (!space && !in_word)
      ++n;
    in_word = !space;
  }
  return n;
}

std::string error_body(const std::string& message, const std::string& type) {
  json err = json::object();
  err["message"] = message;
  err["type"] = type;
  err["param"] = nullptr;
  err["code"] = nullptr;
  json j = json::object();
  j["error"] = std::move(err);
  return dump(j);
}

chat_request parse_chat(const std::string& body) {
  chat_request out;
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    out.error = "request body is not valid JSON";
    return out;
  }
  if (!j.is_object()) {
    out.error = "request body must be a JSON object";
    return out;
  }
  if (j.contains("model") && !j["model"].is_null()) {
    if (!j["model"].is_string()) {
      out.error = "'model' must be a string";
      return out;
    }
    out.model = j["model"].get<std::string>();
  }
  if (j.contains("temperature"))
    out.temperature = j["temperature"];
  if (j.contains("max_tokens") && !j["max_tokens"].is_null()
      && !j["max_tokens"].is_number_integer()) {
    out.error = "'max_tokens' must be an integer";
    return out;
  }
  if (!j.contains("messages") || !j["messages"].is_array()
      || j["messages"].empty()) {
    out.error = "'messages' must be a non-empty array";
    return out;
  }
  for (const auto& m : j["messages"]) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      out.error = "each message needs a string 'role'";
      return out;
    }
    std::string text;
    if (m.contains("content"))
      text = content_text(m["content"]);
    out.messages.emplace_back(m["role"].get<std::string>(), std::move(text));
  }
  return out;
}

/// The deterministic assistant text for a well-formed request.
std::string reply_text(const chat_request& req, const std::string& model) {
  const std::string* last_user = nullptr;
  bool wants_winner = false;
  for (const auto& [role, text] : req.messages) {
    if (role == "user")
      last_user = &text;
    else if (role == "system" && text.find(winner_marker) != std::string::npos)
      wants_winner = true;
  }
  static const std::string none;
  const std::string& user = last_user ? *last_user : none;
  if (wants_winner) {
    auto id = candidate_id(user);
    for (auto i = req.messages.rbegin(); id.empty() && i != req.messages.rend();
         ++i)
      if (i->first == "user")
        id = candidate_id(i->second);
    return "WINNER: " + (id.empty() ? std::string{"unknown"} : id)
           + "\nRATIONALE: stub picked the first candidate";
  }
  std::string out = "# Response to: " + headline(user, 60) + "\n";
  size_t start = 0;
  while (start <= user.size()) {
    auto end = user.find('\n', start);
    if (end == std::string::npos)
      end = user.size();
    std::string line
      = trim_left(std::string_view{user}.substr(start, end - start));
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.compare(0, 2, "- ") == 0)
      out += line + "\n";
    start = end + 1;
  }
  out += "model=" + model + " temperature="
         + (req.temperature.is_null() ? std::string{"none"}
                                      : dump(req.temperature));
  return out;
}

std::string completion_body(uint64_t id, const std::string& model,
                            const std::string& text, size_t prompt_tokens) {
  size_t completion_tokens = count_words(text);
  json message = json::object();
  message["role"] = "assistant";
  message["content"] = text;
  json choice = json::object();
  choice["index"] = 0;
  choice["message"] = std::move(message);
  choice["finish_reason"] = "stop";
  json usage = json::object();
  usage["prompt_tokens"] = prompt_tokens;
  usage["completion_tokens"] = completion_tokens;
  usage["total_tokens"] = prompt_tokens + completion_tokens;
  json j = json::object();
  j["id"] = "chatcmpl-" + std::to_string(id);
  j["object"] = "chat.completion";
  j["created"] = epoch_s();
  j["model"] = model;
  j["choices"] = json::array({std::move(choice)});
  j["usage"] = std::move(usage);
  return dump(j);
}

std::string models_body(const std::string& model) {
  json m = json::object();
  m["id"] = model;
  m["object"] = "model";
  m["owned_by"] = "llm_stub";
  json j = json::object();
  j["object"] = "list";
  j["data"] = json::array({std::move(m)});
  return dump(j);
}

} // namespace orch::test::stub
