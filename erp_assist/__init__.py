"""erp-assist: answers for ERP support groups, from their own FAQ, SOPs and chat history."""

from erp_assist.settings import Settings

__all__ = ["Settings", "__version__"]
__version__ = "0.1.0"
