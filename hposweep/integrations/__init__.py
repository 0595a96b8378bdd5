"""Layer 3: code that talks to other tools (trackers, other optimizers' study formats).

Each integration imports its tool lazily, inside the function that needs it, so a missing optional
package fails only the feature that uses it.
"""
