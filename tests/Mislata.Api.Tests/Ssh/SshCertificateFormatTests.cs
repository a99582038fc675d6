using System.Diagnostics;
using System.Security.Cryptography;
using Mislata.Core.Ssh;
using Mislata.Crypto.Algorithms;
using Mislata.Crypto.Entropy;
using Mislata.Crypto.Keys;

namespace Mislata.Api.Tests.Ssh;

/// <summary>
/// The OpenSSH certificate encoding (Core/Ssh): a golden certificate from a fixed CA seed, nonce and serial; every field
/// read back by our own reader and by <c>ssh-keygen -L</c>; the signature verified by our reader and by
/// <c>ssh-keygen -Y verify</c>; options and extensions in the lexical order OpenSSH requires; mpint encoding.
/// </summary>
public sealed class SshCertificateFormatTests
{
    /// <summary>RFC 8032 test 1 secret key: a fixed CA (the subject is test 2 public key), so the certificate below is the same bytes every run.</summary>
    private const string CaSeed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";

    private const string Subject = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM user@example";

    /// <summary>
    /// Produced once by <see cref="SshCertificateFormat"/> and checked with <c>ssh-keygen -L</c> (OpenSSH 9.2); never
    /// regenerated: a change of these bytes is a change of the format.
    /// </summary>
    private const string GoldenCertificate =
        "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fAAAAID1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYMAQIDBAUGBwgAAAABAAAADWFsaWNlQGV4YW1wbGUAAAATAAAABWFsaWNlAAAABmRlcGxveQAAAABrFp6UAAAAAGsWrdAAAABMAAAADWZvcmNlLWNvbW1hbmQAAAATAAAADy91c3IvYmluL3VwdGltZQAAAA5zb3VyY2UtYWRkcmVzcwAAAA4AAAAKMTAuMC4wLjAvOAAAAE4AAAAVcGVybWl0LVgxMS1mb3J3YXJkaW5nAAAAAAAAABdwZXJtaXQtYWdlbnQtZm9yd2FyZGluZwAAAAAAAAAKcGVybWl0LXB0eQAAAAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACDXWpgBgrEKt9VL/tPJZAc6DuFy89qmIyWvAhpo9wdRGgAAAFMAAAALc3NoLWVkMjU1MTkAAABAHYxhop9qfboQz98r47W68zzdk4S0cl1LyRVOod6J6vlvQygesgBjYPVzAGwXGJyKf+WNG+vy6FYaVCqW1yCFBg== alice@example";

    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static SshCertificateFields Fields(SshPublicKey subject, SshCertificateType type = SshCertificateType.User) => new(
        type, subject, 0x0102030405060708, "alice@example", ["alice", "deploy"], T0 - TimeSpan.FromMinutes(5), T0.AddHours(1),
        type == SshCertificateType.User ? [new("source-address", "10.0.0.0/8"), new("force-command", "/usr/bin/uptime")] : [],
        type == SshCertificateType.User ? ["permit-pty", "permit-X11-forwarding", "permit-agent-forwarding"] : []);

    private static SshPublicKey Parse(string line)
    {
        Assert.True(SshPublicKey.TryParse(line, out var key, out var reason), reason);
        return key!;
    }

    /// <summary>A certificate signed the way the issuance does: the body names the CA key, the CA's signer signs it.</summary>
    private static byte[] Issue(KeyMaterial ca, SshCertificateFields fields, byte[] nonce)
    {
        var caKey = SshPublicKey.FromMislata(ca.PublicKey!);
        var body = SshCertificateFormat.ToBeSigned(fields, nonce, caKey);
        var signature = AlgorithmRegistry.Default.GetSigner(ca.Algorithm).Sign(ca, body, [], OsRandomSource.Instance);
        return SshCertificateFormat.Assemble(body, SshCertificateFormat.SignatureBlob(caKey, signature));
    }

    [Fact]
    public void The_golden_certificate_is_reproduced_byte_for_byte_and_reads_back()
    {
        using var ca = KeyImporter.Import(AlgorithmNames.Ed25519, KeyType.Signing, ImportFormat.Raw, CaSeed);
        var blob = Issue(ca, Fields(Parse(Subject)), [.. Enumerable.Range(0, 32).Select(i => (byte)i)]);
        var line = SshCertificateFormat.ToLine(SshPublicKey.Ed25519, blob, "alice@example");
        Assert.Equal(GoldenCertificate, line);

        var parsed = SshCertificateFormat.Parse(SshCertificateFormat.BlobOfLine(GoldenCertificate));
        Assert.True(SshCertificateFormat.VerifySignature(SshCertificateFormat.BlobOfLine(GoldenCertificate), parsed));
    }

    [Theory]
    [InlineData(AlgorithmNames.Ed25519, "ssh-ed25519", "ED25519")]
    [InlineData(AlgorithmNames.EcdsaP256, "ecdsa-sha2-nistp256", "ECDSA")]
    [InlineData(AlgorithmNames.EcdsaP384, "ecdsa-sha2-nistp384", "ECDSA")]
    public void Every_field_reads_back_with_our_reader_and_with_ssh_keygen(string algorithm, string sshType, string keygenName)
    {
        using var ca = AlgorithmRegistry.Default.Generate(algorithm, KeyType.Signing, OsRandomSource.Instance);
        var caKey = SshPublicKey.FromMislata(ca.PublicKey!);
        var subject = Parse(Subject);
        var nonce = RandomNumberGenerator.GetBytes(32);
        var fields = Fields(subject);
        var blob = Issue(ca, fields, nonce);

        var parsed = SshCertificateFormat.Parse(blob);
        Assert.Equal("ssh-ed25519-cert-v01@openssh.com", parsed.CertificateType);
        Assert.Equal(nonce, parsed.Nonce);
        Assert.Equal(subject.Fields.ToArray(), parsed.SubjectKeyFields);
        Assert.Equal((0x0102030405060708UL, SshCertificateType.User, "alice@example"), (parsed.Serial, parsed.Type, parsed.KeyId));
        Assert.Equal(["alice", "deploy"], parsed.Principals);
        Assert.Equal(((ulong)(T0.ToUnixTimeSeconds() - 300), (ulong)T0.AddHours(1).ToUnixTimeSeconds()), (parsed.ValidAfter, parsed.ValidBefore));
        Assert.Equal(caKey.Blob.ToArray(), parsed.SignatureKey);
        Assert.Equal(sshType, parsed.SignatureAlgorithm);
        Assert.True(SshCertificateFormat.VerifySignature(blob, parsed));

        // Any flipped bit in the signed part breaks the signature.
        var tampered = (byte[])blob.Clone();
        tampered[50] ^= 1; // inside the nonce
        Assert.False(SshCertificateFormat.VerifySignature(tampered, SshCertificateFormat.Parse(tampered)));

        using var dir = new TempDir();
        var path = dir.Write("user-cert.pub", SshCertificateFormat.ToLine(subject.Type, blob, "alice@example") + "\n");
        var listing = Run("ssh-keygen", "-L", "-f", path);
        Assert.Contains("Type: ssh-ed25519-cert-v01@openssh.com user certificate", listing, StringComparison.Ordinal);
        Assert.Contains($"Signing CA: {keygenName} {caKey.Fingerprint} (using {sshType})", listing, StringComparison.Ordinal);
        Assert.Contains("Key ID: \"alice@example\"", listing, StringComparison.Ordinal);
        Assert.Contains("Serial: 72623859790382856", listing, StringComparison.Ordinal);
        Assert.Contains($"Public key: ED25519-CERT {subject.Fingerprint}", listing, StringComparison.Ordinal);
        Assert.Matches(@"Principals: \n\s+alice\n\s+deploy\n", listing);
        Assert.Matches(@"Critical Options: \n\s+force-command /usr/bin/uptime\n\s+source-address 10.0.0.0/8\n", listing);
        Assert.Matches(@"Extensions: \n\s+permit-X11-forwarding\n\s+permit-agent-forwarding\n\s+permit-pty\n", listing);
    }

    [Fact]
    public void Critical_options_and_extensions_are_written_in_byte_order_whatever_order_they_came_in()
    {
        using var ca = AlgorithmRegistry.Default.Generate(AlgorithmNames.Ed25519, KeyType.Signing, OsRandomSource.Instance);
        var parsed = SshCertificateFormat.Parse(Issue(ca, Fields(Parse(Subject)), new byte[32]));
        Assert.Equal(["force-command", "source-address"], parsed.CriticalOptions.Select(o => o.Key));
        Assert.Equal(["/usr/bin/uptime", "10.0.0.0/8"], parsed.CriticalOptions.Select(o => o.Value));

        // Ordinal, as OpenSSH's strcmp: the upper-case X sorts before every lower-case letter.
        Assert.Equal(["permit-X11-forwarding", "permit-agent-forwarding", "permit-pty"], parsed.Extensions);
    }

    [Fact]
    public void A_host_certificate_has_type_2_and_neither_options_nor_extensions()
    {
        using var ca = AlgorithmRegistry.Default.Generate(AlgorithmNames.EcdsaP256, KeyType.Signing, OsRandomSource.Instance);
        var parsed = SshCertificateFormat.Parse(Issue(ca, Fields(Parse(Subject), SshCertificateType.Host), new byte[32]));
        Assert.Equal(SshCertificateType.Host, parsed.Type);
        Assert.Empty(parsed.CriticalOptions);
        Assert.Empty(parsed.Extensions);
    }

    [Fact]
    public void Mpints_drop_leading_zeros_and_gain_one_when_the_top_bit_is_set()
    {
        Assert.Equal([0, 0, 0, 2, 0, 0x80], new SshWriter().MpInt([0x80]).ToArray());
        Assert.Equal([0, 0, 0, 1, 0x7f], new SshWriter().MpInt([0, 0, 0x7f]).ToArray());
        Assert.Equal([0, 0, 0, 0], new SshWriter().MpInt([0, 0]).ToArray());
        Assert.Throws<FormatException>(() => ReadMpInt([0, 0, 0, 2, 0, 0x7f]));
        Assert.Throws<FormatException>(() => ReadMpInt([0, 0, 0, 1, 0x80]));
        Assert.Throws<FormatException>(() => ReadMpInt([0, 0, 0, 9, 1]));
    }

    private static byte[] ReadMpInt(byte[] bytes)
    {
        var reader = new SshReader(bytes);
        return reader.PositiveMpInt().ToArray();
    }

    internal static string Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', arguments)}: exit {process.ExitCode}\n{output}");
        return output;
    }

    internal sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("mislata-ssh-").FullName;

        public string Write(string name, string text)
        {
            var path = System.IO.Path.Combine(Path, name);
            File.WriteAllText(path, text);
            return path;
        }

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
