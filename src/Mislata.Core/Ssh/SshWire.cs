using System.Buffers.Binary;
using System.Text;

namespace Mislata.Core.Ssh;

/// <summary>Writes the SSH wire types of RFC 4251 §5 (uint32, uint64, string, mpint) that keys and certificates are made of.</summary>
public sealed class SshWriter
{
    private readonly MemoryStream _buffer = new();

    public SshWriter UInt32(uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, value);
        _buffer.Write(b);
        return this;
    }

    public SshWriter UInt64(ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, value);
        _buffer.Write(b);
        return this;
    }

    public SshWriter String(ReadOnlySpan<byte> value)
    {
        UInt32((uint)value.Length);
        _buffer.Write(value);
        return this;
    }

    public SshWriter String(string value) => String(Encoding.UTF8.GetBytes(value));

    /// <summary>An unsigned big-endian magnitude as an mpint: no superfluous leading zeros, a 0x00 in front when the top bit is set.</summary>
    public SshWriter MpInt(ReadOnlySpan<byte> unsignedBigEndian)
    {
        var start = 0;
        while (start < unsignedBigEndian.Length && unsignedBigEndian[start] == 0)
        {
            start++;
        }

        var magnitude = unsignedBigEndian[start..];
        if (magnitude.IsEmpty)
        {
            return UInt32(0);
        }

        var pad = (magnitude[0] & 0x80) != 0;
        UInt32((uint)(magnitude.Length + (pad ? 1 : 0)));
        if (pad)
        {
            _buffer.WriteByte(0);
        }

        _buffer.Write(magnitude);
        return this;
    }

    /// <summary>Bytes as they are (already encoded SSH fields).</summary>
    public SshWriter Raw(ReadOnlySpan<byte> bytes)
    {
        _buffer.Write(bytes);
        return this;
    }

    public byte[] ToArray() => _buffer.ToArray();
}

/// <summary>Reads SSH wire types; every read checks the remaining length and throws <see cref="FormatException"/> on a short or malformed field.</summary>
public ref struct SshReader(ReadOnlySpan<byte> data)
{
    private ReadOnlySpan<byte> _rest = data;

    public readonly bool IsEmpty => _rest.IsEmpty;

    public readonly int Remaining => _rest.Length;

    public uint UInt32()
    {
        if (_rest.Length < 4)
        {
            throw new FormatException("truncated uint32");
        }

        var value = BinaryPrimitives.ReadUInt32BigEndian(_rest);
        _rest = _rest[4..];
        return value;
    }

    public ulong UInt64()
    {
        if (_rest.Length < 8)
        {
            throw new FormatException("truncated uint64");
        }

        var value = BinaryPrimitives.ReadUInt64BigEndian(_rest);
        _rest = _rest[8..];
        return value;
    }

    public ReadOnlySpan<byte> String()
    {
        var length = UInt32();
        if (length > (uint)_rest.Length)
        {
            throw new FormatException("truncated string");
        }

        var value = _rest[..(int)length];
        _rest = _rest[(int)length..];
        return value;
    }

    /// <summary>A string that must be UTF-8 text without NUL.</summary>
    public string Text()
    {
        var bytes = String();
        if (bytes.Contains((byte)0))
        {
            throw new FormatException("text with NUL");
        }

        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>A non-negative mpint as its unsigned big-endian magnitude (canonical encoding required).</summary>
    public ReadOnlySpan<byte> PositiveMpInt()
    {
        var value = String();
        if (value.IsEmpty)
        {
            return value;
        }

        if ((value[0] & 0x80) != 0)
        {
            throw new FormatException("negative mpint");
        }

        if (value[0] == 0)
        {
            if (value.Length == 1 || (value[1] & 0x80) == 0)
            {
                throw new FormatException("non-canonical mpint");
            }

            return value[1..];
        }

        return value;
    }

    public readonly void End()
    {
        if (!_rest.IsEmpty)
        {
            throw new FormatException("trailing bytes");
        }
    }
}
