import hashlib, hmac, time

def verify(header: str, body: bytes, secret: bytes, tolerance: int = 300) -> bool:
    fields = [field.strip().partition("=") for field in header.split(",")]
    stamps = [value for key, _, value in fields if key == "t"]
    if len(stamps) != 1 or not (stamps[0].isascii() and stamps[0].isdigit()):
        return False
    t = stamps[0]
    if abs(time.time() - int(t)) > tolerance:
        return False
    expected = hmac.new(secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(
        key == "v1" and hmac.compare_digest(value.encode(), expected.encode())
        for key, _, value in fields
    )
