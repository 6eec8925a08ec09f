namespace Aegis.Policy.Values;

/// <summary>Looks up IANA time zones without throwing.</summary>
public static class TimeZones
{
    /// <summary>The zone named <paramref name="id"/> (such as "Europe/Berlin"), or false when there is none.</summary>
    public static bool TryFind(string id, out TimeZoneInfo zone)
    {
        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(id);
            return true;
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            zone = TimeZoneInfo.Utc;
            return false;
        }
    }
}
