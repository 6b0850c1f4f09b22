import Foundation
import SuiteCore
import Testing

@testable import SuiteSigning

/// Signature Version 4 against AWS's published examples: the SigV4 test suite's
/// `get-vanilla` and `get-vanilla-query-order-key-case`, and the S3 guide's presigned
/// URL ("Authenticating Requests: Using Query Parameters").
@Suite struct SigV4Tests {
    let suite = SigV4(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region: "us-east-1", service: "service")
    static let emptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    static let headers = [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")]

    @Test func theTestSuitesVanillaGet() {
        let signature = suite.signature(
            method: "GET", path: "/", query: [], headers: Self.headers, payloadHash: Self.emptyPayload, timestamp: "20150830T123600Z")
        #expect(signature == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test func queryParametersAreSortedByName() {
        let signature = suite.signature(
            method: "GET", path: "/", query: [("Param2", "value2"), ("Param1", "value1")], headers: Self.headers,
            payloadHash: Self.emptyPayload, timestamp: "20150830T123600Z")
        #expect(signature == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
        // A value changed by one character is another signature.
        #expect(
            suite.signature(
                method: "GET", path: "/", query: [("Param2", "value2"), ("Param1", "value0")], headers: Self.headers,
                payloadHash: Self.emptyPayload, timestamp: "20150830T123600Z") != signature)
    }

    @Test func theS3GuidesPresignedURL() {
        let signer = SigV4(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
        let url = signer.presignedURL(
            method: "GET", origin: "https://examplebucket.s3.amazonaws.com", path: "/test.txt", expires: 86_400,
            date: Date(timeIntervalSince1970: 1_369_353_600))
        #expect(
            url == "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                + "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
                + "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                + "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    }

    @Test func pathsAndValuesAreEncodedTheAWSWay() {
        #expect(Percent.encode("a b/c~d*é", keepSlash: true) == "a%20b/c~d%2A%C3%A9")
        #expect(Percent.encode("a/b") == "a%2Fb")
        #expect(SigV4.host(ofOrigin: "http://127.0.0.1:9000") == "127.0.0.1:9000")
        #expect(SigV4.host(ofOrigin: "https://s3.amazonaws.com:443") == "s3.amazonaws.com")
        #expect(SigV4.timestamp(Date(timeIntervalSince1970: 1_440_938_160)) == "20150830T123600Z")
    }
}
