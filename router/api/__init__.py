"""HTTP only: request parsing, status codes and response shapes. Domain logic lives in router.services."""
