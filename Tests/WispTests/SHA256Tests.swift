import XCTest
@testable import Wisp

/// SHA-256 against the NIST example vectors (FIPS 180-4 examples, CAVP short/long messages).
final class SHA256Tests: XCTestCase {
    func testNISTVectors() {
        let cases: [(String, String)] = [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
            ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
             "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
        ]
        for (message, digest) in cases { XCTAssertEqual(SHA256.hex(Array(message.utf8)), digest, "'\(message)'") }
    }

    /// One million 'a' (the long NIST vector), fed in uneven pieces, equals the one-shot digest.
    func testMillionAInPieces() {
        let a = [UInt8](repeating: 0x61, count: 1_000_000)
        XCTAssertEqual(SHA256.hex(a), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        var h = SHA256()
        var i = 0, piece = 1
        while i < a.count {
            let j = min(a.count, i + piece)
            h.update(Array(a[i..<j]))
            i = j
            piece = piece * 3 % 257 + 1
        }
        XCTAssertEqual(h.finalize().map { String(format: "%02x", $0) }.joined(),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Every split point of messages around the block and padding boundaries (55, 56, 63, 64, 119
    /// bytes) gives the one-shot digest; messages differing in one bit differ in their digests.
    func testSplitsAndSingleBitChanges() {
        for length in [55, 56, 57, 63, 64, 65, 119, 120, 128] {
            let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let whole = SHA256.hex(message)
            for cut in 0...length {
                var h = SHA256()
                h.update(Array(message[..<cut]))
                h.update(Array(message[cut...]))
                XCTAssertEqual(h.finalize().map { String(format: "%02x", $0) }.joined(), whole, "length \(length), cut \(cut)")
            }
            var flipped = message
            flipped[length / 2] ^= 1
            XCTAssertNotEqual(SHA256.hex(flipped), whole)
        }
    }
}
