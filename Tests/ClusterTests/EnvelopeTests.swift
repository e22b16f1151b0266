import Cluster
import Testing

/// The envelope every message starts with.
@Suite("Wire envelopes")
struct EnvelopeTests {
    @Test("envelopes: round trip; other versions are told apart from garbage")
    func envelopes() throws {
        let envelope = Envelope(.result, job: 7, round: 9)
        #expect(try Envelope.decode(envelope.encoded).get() == envelope)
        var other = envelope.encoded
        other[4] = 99
        #expect(throws: Envelope.Problem.version(99)) { try Envelope.decode(other).get() }
        var unknownKind = envelope.encoded
        unknownKind[6] = 200
        #expect(throws: Envelope.Problem.kind(200)) { try Envelope.decode(unknownKind).get() }
        #expect(throws: (any Error).self) { try Envelope.decode(Array(envelope.encoded.dropLast())).get() }
        var badMagic = envelope.encoded
        badMagic[0] = 0
        #expect(throws: (any Error).self) { try Envelope.decode(badMagic).get() }
    }
}
