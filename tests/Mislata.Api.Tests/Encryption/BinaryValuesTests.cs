using System.Text;
using Mislata.Api.Common;
using Mislata.Api.Features.Operations;

namespace Mislata.Api.Tests.Encryption;

/// <summary>Binary values on the wire: strict base64, strict Unicode, key ids, and plaintext written back in its encoding.</summary>
public sealed class BinaryValuesTests
{
    [Theory]
    [InlineData("AAEC/w==", true)]
    [InlineData("", true)]
    [InlineData("AAEC/w=", false)]
    [InlineData("AAEC/w", false)]
    [InlineData("AAEC /w==", false)]
    [InlineData("AAEC-w==", false)]
    [InlineData("AAEC/x==", false)]
    public void Base64_values_must_be_canonical_standard_base64(string text, bool valid)
    {
        var errors = new FieldErrors();
        var bytes = Binary.Read(errors, "plaintext", text, "base64");
        Assert.Equal(valid, bytes is not null);
        Assert.Equal(!valid, errors.Any);
    }

    [Fact]
    public void Text_values_are_their_utf8_bytes_and_a_lone_surrogate_is_refused()
    {
        var errors = new FieldErrors();
        Assert.Equal("é€"u8.ToArray(), Binary.Read(errors, "message", "é€", "utf8"));
        Assert.False(errors.Any);
        Assert.Null(Binary.Read(errors, "message", "a\ud800b", "utf8"));
        Binary.Context(errors, "x\udc00");
        Assert.Equal(["message", "context"], errors.Messages.Select(m => m.Field));
        Assert.Null(Binary.Read(errors, "message", null, "utf8"));
        Assert.Contains(errors.Messages, m => m.Field == "message" && m.Messages.Contains("is required."));
    }

    [Fact]
    public void Encodings_and_key_ids_are_checked()
    {
        var errors = new FieldErrors();
        Assert.Equal("utf8", Binary.Encoding(errors, null));
        Assert.Equal("base64", Binary.Encoding(errors, "base64"));
        Assert.False(errors.Any);
        Binary.Encoding(errors, "hex");
        Assert.Null(Binary.KeyId(errors, "keyId", "not-a-guid"));
        Assert.Null(Binary.KeyId(errors, "keyId", null));
        Binary.KeyId(errors, "keyId", null, required: true);
        var id = Guid.NewGuid();
        Assert.Equal(id, Binary.KeyId(errors, "keyId", id.ToString()));
        Assert.Equal(["encoding", "keyId"], errors.Messages.Select(m => m.Field));
        Assert.Equal(2, errors.Messages.Single(m => m.Field == "keyId").Messages.Count);
    }

    [Fact]
    public void Plaintext_is_written_in_its_encoding_bytes_that_are_not_utf8_as_base64_and_the_buffer_is_zeroed()
    {
        var text = Encoding.UTF8.GetBytes("héllo");
        Assert.Equal(("héllo", "utf8"), Binary.Write(text, "utf8"));
        Assert.All(text, b => Assert.Equal(0, b));

        byte[] notUtf8 = [0xC3, 0x28, 0xFF];
        Assert.Equal(("wyj/", "base64"), Binary.Write(notUtf8, "utf8"));
        Assert.All(notUtf8, b => Assert.Equal(0, b));
        Assert.Equal(("aGk=", "base64"), Binary.Write("hi"u8.ToArray(), "base64"));
    }
}
