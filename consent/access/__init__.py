"""Access rules compiled from agreements and consents: decisions and signed bundles."""
