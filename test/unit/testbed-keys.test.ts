/**
 * Proves the controller only ever writes SSH keys that ssh2 can parse. ssh2's own ed25519
 * generator yields an unparseable private key about 4 times in 1,000, which once left a testbed
 * node unreachable; 3,000 generated pairs make a regression visible with near certainty.
 */
import ssh2 from "ssh2";
import { describe, expect, it } from "vitest";
import { generateParseableKeyPair } from "../../controller/keys.js";

describe("controller SSH keys", () => {
  it("generates only key pairs that parse", () => {
    for (let index = 0; index < 3000; index += 1) {
      const pair = generateParseableKeyPair("test");
      expect(ssh2.utils.parseKey(pair.private)).not.toBeInstanceOf(Error);
      expect(ssh2.utils.parseKey(pair.public)).not.toBeInstanceOf(Error);
    }
  });
});
