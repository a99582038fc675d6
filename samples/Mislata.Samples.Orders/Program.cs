// A small shop back end's use of Mislata through the client library:
//   dotnet run --project samples/Mislata.Samples.Orders -- https://kms.example.com [ca.pem]
// with MISLATA_API_KEY set to a key holding keys:read keys:write encryption:write secrets:read secrets:write.
// It seals a card number per order (the order id as context), keeps a database password as a secret, encrypts an
// export file of any size with a data key, and lets a producer without API access encrypt to the exported ML-KEM key.
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Mislata.Client;
using Mislata.Client.Contracts;
using Mislata.Client.Envelope;
using Mislata.Client.Offline;

if (args.Length < 1 || Environment.GetEnvironmentVariable("MISLATA_API_KEY") is not { Length: > 0 } apiKey)
{
    Console.Error.WriteLine("usage: MISLATA_API_KEY=qapi_… Mislata.Samples.Orders <gateway URL> [CA certificate PEM]");
    return 2;
}

var services = new ServiceCollection();
services.AddMislataClient(o =>
{
    o.BaseAddress = new Uri(args[0]);
    o.ApiKey = apiKey;
    if (args.Length > 1)
    {
        // A private CA (the self-signed certificate of a test install): trust exactly it.
        var ca = X509CertificateLoader.LoadCertificateFromFile(args[1]);
        o.ConfigureHandler = h => h.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            errors == System.Net.Security.SslPolicyErrors.None || (certificate is not null && certificate.GetCertHashString() == ca.GetCertHashString());
    }
});
await using var provider = services.BuildServiceProvider();
var mislata = provider.GetRequiredService<MislataClient>();
using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
var ct = cancel.Token;

try
{
    // 1. The shop's key: found by name, or created once.
    var key = (await mislata.Keys.ListAsync(new KeyListQuery(Name: "samples-orders"), ct)).Data.FirstOrDefault()
        ?? await mislata.Keys.CreateAsync(new CreateKeyRequest("samples-orders", "ML-KEM-768", Description: "card numbers of orders"), cancellationToken: ct);
    Console.WriteLine($"key {key.Id} ({key.Algorithm}, version {key.CurrentVersion})");

    // 2. A card number sealed for one order: the payload is useless for any other order id.
    var orderId = Guid.NewGuid().ToString();
    var sealedCard = await mislata.Crypto.EncryptAsync(new EncryptRequest("4111 1111 1111 1111", KeyId: key.Id, Context: "order:" + orderId), ct);
    var card = await mislata.Crypto.DecryptAsync(new DecryptRequest(sealedCard.EncryptedPayload, "order:" + orderId), ct);
    Console.WriteLine($"order {orderId}: card ends in {card.Plaintext[^4..]}");
    try
    {
        await mislata.Crypto.DecryptAsync(new DecryptRequest(sealedCard.EncryptedPayload, "order:another"), ct);
    }
    catch (MislataApiException e) when (e.Error == "decryption_failed")
    {
        Console.WriteLine("another order's context: decryption_failed, as it should");
    }

    // 3. The database password as a secret, versioned.
    var name = "samples/orders/db-password-" + orderId[..8];
    var secret = await mislata.Secrets.CreateAsync(new CreateSecretRequest(name, "first-password"), cancellationToken: ct);
    await mislata.Secrets.WriteAsync(secret.Id, new WriteSecretRequest("rotated-password", ExpectedVersion: secret.Version), ct);
    Console.WriteLine($"secret {name}: version {(await mislata.Secrets.GetAsync(secret.Id, cancellationToken: ct)).Version}");
    await mislata.Secrets.PurgeAsync(secret.Id, ct);

    // 4. A nightly export of any size: streamed through a data key, constant memory.
    var export = Encoding.UTF8.GetBytes(string.Join('\n', Enumerable.Range(0, 20_000).Select(i => $"order-{i},EUR,{i % 97}.00")));
    using var sealedExport = new MemoryStream();
    var envelope = new DataKeyEnvelope(mislata);
    await envelope.EncryptAsync(new MemoryStream(export), sealedExport, new EnvelopeOptions(key.Id, "export:nightly"), cancellationToken: ct);
    using var opened = new MemoryStream();
    await envelope.DecryptAsync(new MemoryStream(sealedExport.ToArray()), opened, "export:nightly", cancellationToken: ct);
    Console.WriteLine($"export: {export.Length} bytes → envelope {sealedExport.Length} bytes → {(opened.ToArray().SequenceEqual(export) ? "same bytes back" : "MISMATCH")}");

    // 5. A producer without API access encrypts to the exported public key; only the platform can decrypt.
    var publicKey = OfflinePublicKey.FromPublicKey(await mislata.Keys.GetPublicKeyAsync(key.Id, cancellationToken: ct));
    var offline = OfflineEncryptor.EncryptText(publicKey, "from the warehouse scanner", "scanner:7");
    Console.WriteLine("offline payload decrypts to: " + (await mislata.Crypto.DecryptAsync(new DecryptRequest(offline, "scanner:7"), ct)).Plaintext);
    return 0;
}
catch (MislataApiException e)
{
    Console.Error.WriteLine($"Mislata: {e.Status} {e.Error}: {e.Title} {e.Detail} (trace {e.TraceId})");
    return 1;
}
