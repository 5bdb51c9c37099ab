// The tests' OpenID Connect provider: npm's oauth2-mock-server on loopback, started by tests/idp.py.
//
// It serves discovery, the authorization code flow with PKCE, ID tokens signed with a key that has
// a kid, its JWKS and an end-session endpoint. Its /authorize signs "johndoe" in at once; the claims
// of the ID tokens it issues come from a small control server beside it:
//
//   PUT /claims  {"sub": "...", "groups": [...], "aud": "...", "exp": 123, "nbf": null, ...}
//                merged into every later ID token through the beforeTokenSigning hook (null removes)
//   GET /last    {"id_token": ..., "authorization": ...}: what the token endpoint last answered and
//                was sent, so a test can look for the token and the client secret elsewhere
//
// Prints one JSON line with both URLs, then serves until stopped (SIGTERM).
import http from "node:http";
import { OAuth2Server } from "oauth2-mock-server";

const provider = new OAuth2Server();
await provider.issuer.keys.generate("RS256");
await provider.start(0, "127.0.0.1");
// The issuer as the tests configure it (the server would name itself "localhost").
provider.issuer.url = `http://127.0.0.1:${provider.address().port}`;

let claims = {};
let last = {};

provider.service.on("beforeTokenSigning", (token) => {
  // The ID token is the one with an audience (the access token of this grant has none).
  if (!("aud" in token.payload)) return;
  for (const [name, value] of Object.entries(claims)) {
    if (value === null) delete token.payload[name];
    else token.payload[name] = value;
  }
});

provider.service.on("beforeResponse", (response, req) => {
  last = { id_token: response.body.id_token ?? "", authorization: req.headers.authorization ?? "" };
});

const control = http.createServer(async (req, res) => {
  let body = "";
  for await (const chunk of req) body += chunk;
  res.setHeader("Content-Type", "application/json");
  if (req.method === "PUT" && req.url === "/claims") {
    claims = JSON.parse(body || "{}");
    res.end("{}");
  } else if (req.method === "GET" && req.url === "/last") {
    res.end(JSON.stringify(last));
  } else {
    res.statusCode = 404;
    res.end("{}");
  }
});
control.listen(0, "127.0.0.1", () => {
  const port = control.address().port;
  console.log(JSON.stringify({ issuer: provider.issuer.url, control: `http://127.0.0.1:${port}` }));
});

process.on("SIGTERM", async () => {
  control.close();
  await provider.stop();
  process.exit(0);
});
