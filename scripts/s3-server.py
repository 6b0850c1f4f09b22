#!/usr/bin/env python3
"""A real S3-compatible server for tests and `make run`: moto's S3 (from PyPI, in
.dev/venv), with one bucket made at start, behind a check that moto itself does not do:
every request must carry a valid SigV4 query signature (a presigned URL) for the
configured key, made within its X-Amz-Expires. A tampered or expired URL gets S3's 403
(SignatureDoesNotMatch / AccessDenied "Request has expired"), as AWS answers.

The signature is recomputed with botocore's own signer (S3SigV4QueryAuth), an
implementation independent of the service's.

    s3-server.py --port 9000 --bucket documents --access-key-id K --secret-access-key S
"""
import argparse
import datetime
import hmac
import sys
from urllib.parse import parse_qsl, quote

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.moto_server.werkzeug_app import create_backend_app
from werkzeug.serving import run_simple
from werkzeug.test import Client


def error(start_response, code, message):
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error>"
    ).encode()
    start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


class PresignedOnly:
    def __init__(self, app, credentials, region):
        self.app = app
        self.credentials = credentials
        self.region = region

    def __call__(self, environ, start_response):
        problem = self.check(environ)
        if problem:
            return error(start_response, *problem)
        return self.app(environ, start_response)

    def check(self, environ):
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        params = dict(query)
        if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or "X-Amz-Signature" not in params:
            return ("AccessDenied", "Only presigned requests are accepted here")
        try:
            access_key, day, region, service, _ = params["X-Amz-Credential"].split("/")
            stamp = datetime.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
            expires = int(params["X-Amz-Expires"])
            signed_headers = params["X-Amz-SignedHeaders"].split(";")
        except (KeyError, ValueError):
            return ("AuthorizationQueryParametersError", "The presigned URL is malformed")
        if access_key != self.credentials.access_key:
            return ("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
        now = datetime.datetime.now(datetime.timezone.utc)
        if now > stamp + datetime.timedelta(seconds=expires):
            return ("AccessDenied", "Request has expired")
        # The request as it was signed: its path, its query without the signature, and
        # the headers it says it signed, with the values it sends now.
        headers = {}
        for name in signed_headers:
            key = "HTTP_" + name.upper().replace("-", "_")
            if name == "content-type":
                key = "CONTENT_TYPE"
            elif name == "content-length":
                key = "CONTENT_LENGTH"
            if key not in environ:
                return ("SignatureDoesNotMatch", f"The signed header {name} is missing")
            headers[name] = environ[key]
        path = quote(environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8"), safe="/~")
        signed_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query if k != "X-Amz-Signature")
        url = "http://" + headers.get("host", environ.get("HTTP_HOST", "")) + path + "?" + signed_query
        request = AWSRequest(method=environ["REQUEST_METHOD"], url=url, headers=headers)
        request.context["timestamp"] = params["X-Amz-Date"]
        signer = S3SigV4QueryAuth(self.credentials, service, region, expires=expires)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
            return ("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
        return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--access-key-id", required=True)
    parser.add_argument("--secret-access-key", required=True)
    options = parser.parse_args()
    backend = create_backend_app("s3")
    # The bucket, made before anyone can ask (moto needs no signature for it).
    response = Client(backend).put(f"/{options.bucket}", headers={"Host": f"{options.host}:{options.port}"})
    if response.status_code != 200:
        sys.exit(f"cannot make the bucket {options.bucket}: {response.status_code} {response.get_data(as_text=True)}")
    credentials = Credentials(options.access_key_id, options.secret_access_key)
    app = PresignedOnly(backend, credentials, options.region)
    print(f"s3 on http://{options.host}:{options.port} bucket {options.bucket}", flush=True)
    run_simple(options.host, options.port, app, threaded=True)


if __name__ == "__main__":
    main()
