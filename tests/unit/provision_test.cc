// Platform's control-plane error bodies as setup shows them (bridge/provision/api.h): every shape
// the reference documents, read without requiring any field.

#include <gtest/gtest.h>

#include "bridge/provision/api.h"

namespace bridge::provision {
namespace {

TEST(DescribeError, EveryDocumentedShapeGivesItsMessage) {
  // Schema Registry (reference §1.2): title, detail and the XDM code.
  EXPECT_EQ(
      describe_error(400, R"({"type":"http://ns.adobe.com/aep/errors/XDM-1521-400",)"
                          R"("title":"Title not unique","status":400,"report":{)"
                          R"("detailed-message":"long"},"detail":"Object titles must be unique"})"),
      "HTTP 400 Title not unique: Object titles must be unique (XDM-1521-400)");
  // The Adobe I/O gateway (§1.1).
  EXPECT_EQ(describe_error(403, R"({"error_code":"403003","message":"Api Key is invalid"})"),
            "HTTP 403 Api Key is invalid (gateway 403003)");
  // Identity Service (§3.2): description instead of detail.
  EXPECT_EQ(
      describe_error(409, R"({"type":"http://ns.adobe.com/adobecloud/problem/namespacevalidation",)"
                          R"("status":409,"title":"NAMESPACE_CODE_CONFLICT",)"
                          R"("description":"Namespace code already exists"})"),
      "HTTP 409 NAMESPACE_CODE_CONFLICT: Namespace code already exists");
  // Flow Service etag conflicts (§1.2).
  EXPECT_EQ(describe_error(412, R"({"errorMessage":"Supplied version=[1] does not match"})"),
            "HTTP 412 Supplied version=[1] does not match");
  // Only a report message.
  EXPECT_EQ(
      describe_error(401, R"({"title":"Authorization","report":{"message":"token is empty"}})"),
      "HTTP 401 Authorization: token is empty");
  // Not JSON (a proxy's page), cut; and nothing at all.
  EXPECT_EQ(describe_error(502, "<html>Bad gateway</html>"), "HTTP 502 <html>Bad gateway</html>");
  EXPECT_EQ(describe_error(500, std::string(300, 'x')).size(),
            std::string("HTTP 500 ").size() + 200 + 3);
  EXPECT_EQ(describe_error(503, ""), "HTTP 503");
  EXPECT_EQ(describe_error(404, "{}"), "HTTP 404");
}

}  // namespace
}  // namespace bridge::provision
