namespace Mislata.Core.Licensing;

/// <summary>
/// The installation's licence: one row (<see cref="SlotId"/>). It keeps the licence text exactly as installed (the
/// signatures are checked again on every load), the optional revocation check's answer and the last state recorded by
/// the worker (to audit state changes once).
/// </summary>
public sealed class InstalledLicence
{
    public const short SlotId = 1;

    private InstalledLicence()
    {
        Document = string.Empty;
        InstalledBy = string.Empty;
        RecordedState = string.Empty;
    }

    public short Slot { get; private set; } = SlotId;

    public Guid LicenceId { get; private set; }

    /// <summary>The licence text as installed (not secret: it is a signed statement of the vendor).</summary>
    public string Document { get; private set; }

    public DateTimeOffset InstalledAt { get; private set; }

    public string InstalledBy { get; private set; }

    public DateTimeOffset? RevokedAt { get; private set; }

    public DateTimeOffset? RevocationCheckedAt { get; private set; }

    public string RecordedState { get; private set; }

    public static InstalledLicence Install(LicencePayload licence, string document, string installedBy, LicenceState state, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(licence);
        var row = new InstalledLicence();
        row.Replace(licence, document, installedBy, state, now);
        return row;
    }

    /// <summary>A new licence replaces the installed one; an earlier revocation was of the earlier licence.</summary>
    public void Replace(LicencePayload licence, string document, string installedBy, LicenceState state, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(licence);
        LicenceId = licence.Id;
        Document = document;
        InstalledBy = installedBy;
        InstalledAt = now;
        RevokedAt = null;
        RevocationCheckedAt = null;
        RecordedState = LicenceRules.Name(state);
    }

    public void RecordRevocationCheck(bool revoked, DateTimeOffset now)
    {
        RevocationCheckedAt = now;
        RevokedAt = revoked ? RevokedAt ?? now : null;
    }

    /// <summary>Records the state; true when it changed.</summary>
    public bool RecordState(LicenceState state)
    {
        var name = LicenceRules.Name(state);
        if (name == RecordedState)
        {
            return false;
        }

        RecordedState = name;
        return true;
    }
}
