using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.Tokens;

namespace Mislata.EndToEnd.Tests.Identity;

/// <summary>
/// A WebAuthn authenticator in software (the tests' passkey device): one discoverable ES256 credential, attestation
/// <c>none</c>, user presence and verification always given. It builds what a browser's
/// <c>PublicKeyCredential.toJSON()</c> gives from the options the server sends — the client data with the challenge and
/// the origin, the authenticator data with the RP id hash, flags and sign count, the CBOR attestation object with the
/// COSE public key, and the signature over authenticatorData ‖ SHA-256(clientDataJSON) — written from the W3C WebAuthn
/// Level 3 specification, independently of the server's implementation.
/// </summary>
public sealed class SoftwareAuthenticator : IDisposable
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private byte[]? _userHandle;
    private uint _signCount;

    public byte[] CredentialId { get; } = RandomNumberGenerator.GetBytes(32);

    /// <summary>The origin the "browser" puts in the client data (the page's scheme, host and port).</summary>
    public required string Origin { get; init; }

    /// <summary>navigator.credentials.create: the credential JSON for <paramref name="creationOptionsJson"/>.</summary>
    public string Create(string creationOptionsJson, string? rpIdOverride = null)
    {
        var options = JsonNode.Parse(creationOptionsJson)!;
        var rpId = rpIdOverride ?? options["rp"]?["id"]?.GetValue<string>() ?? new Uri(Origin).Host;
        _userHandle = Base64UrlEncoder.DecodeBytes(options["user"]!["id"]!.GetValue<string>());
        var clientData = ClientData("webauthn.create", options["challenge"]!.GetValue<string>());

        var parameters = _key.ExportParameters(false);
        var cose = new CborWriter(CborConformanceMode.Ctap2Canonical);
        cose.WriteStartMap(5);
        cose.WriteInt32(1); cose.WriteInt32(2);     // kty: EC2
        cose.WriteInt32(3); cose.WriteInt32(-7);    // alg: ES256
        cose.WriteInt32(-1); cose.WriteInt32(1);    // crv: P-256
        cose.WriteInt32(-2); cose.WriteByteString(parameters.Q.X!);
        cose.WriteInt32(-3); cose.WriteByteString(parameters.Q.Y!);
        cose.WriteEndMap();

        var attested = new List<byte>();
        attested.AddRange(new byte[16]); // AAGUID: none
        attested.Add((byte)(CredentialId.Length >> 8));
        attested.Add((byte)CredentialId.Length);
        attested.AddRange(CredentialId);
        attested.AddRange(cose.Encode());
        var authenticatorData = AuthenticatorData(rpId, flags: 0x01 | 0x04 | 0x40, attested.ToArray());

        var attestation = new CborWriter(CborConformanceMode.Ctap2Canonical);
        attestation.WriteStartMap(3);
        attestation.WriteTextString("fmt"); attestation.WriteTextString("none");
        attestation.WriteTextString("attStmt"); attestation.WriteStartMap(0); attestation.WriteEndMap();
        attestation.WriteTextString("authData"); attestation.WriteByteString(authenticatorData);
        attestation.WriteEndMap();

        return JsonSerializer.Serialize(new
        {
            id = Base64UrlEncoder.Encode(CredentialId),
            rawId = Base64UrlEncoder.Encode(CredentialId),
            type = "public-key",
            authenticatorAttachment = "platform",
            clientExtensionResults = new { },
            response = new
            {
                clientDataJSON = Base64UrlEncoder.Encode(clientData),
                attestationObject = Base64UrlEncoder.Encode(attestation.Encode()),
                transports = new[] { "internal" },
            },
        });
    }

    /// <summary>navigator.credentials.get: the assertion JSON for <paramref name="requestOptionsJson"/>.</summary>
    public string Get(string requestOptionsJson)
    {
        var options = JsonNode.Parse(requestOptionsJson)!;
        var rpId = options["rpId"]?.GetValue<string>() ?? new Uri(Origin).Host;
        var clientData = ClientData("webauthn.get", options["challenge"]!.GetValue<string>());
        var authenticatorData = AuthenticatorData(rpId, flags: 0x01 | 0x04, []);
        var signature = _key.SignData([.. authenticatorData, .. SHA256.HashData(clientData)], HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        return JsonSerializer.Serialize(new
        {
            id = Base64UrlEncoder.Encode(CredentialId),
            rawId = Base64UrlEncoder.Encode(CredentialId),
            type = "public-key",
            authenticatorAttachment = "platform",
            clientExtensionResults = new { },
            response = new
            {
                clientDataJSON = Base64UrlEncoder.Encode(clientData),
                authenticatorData = Base64UrlEncoder.Encode(authenticatorData),
                signature = Base64UrlEncoder.Encode(signature),
                userHandle = _userHandle is null ? null : Base64UrlEncoder.Encode(_userHandle),
            },
        });
    }

    private byte[] ClientData(string type, string challenge) =>
        Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { type, challenge, origin = Origin, crossOrigin = false }));

    private byte[] AuthenticatorData(string rpId, byte flags, byte[] attested)
    {
        _signCount++;
        var count = new[] { (byte)(_signCount >> 24), (byte)(_signCount >> 16), (byte)(_signCount >> 8), (byte)_signCount };
        return [.. SHA256.HashData(Encoding.UTF8.GetBytes(rpId)), flags, .. count, .. attested];
    }

    public void Dispose() => _key.Dispose();
}
