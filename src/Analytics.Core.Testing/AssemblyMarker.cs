namespace Analytics.Core.Testing;

/// <summary>Placeholder until the emulator's public types land.</summary>
internal static class AssemblyMarker
{
}
