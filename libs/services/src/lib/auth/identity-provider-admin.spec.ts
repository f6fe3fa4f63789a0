import { IdentityProviderAdminUnsupportedError } from './auth.errors.js';
import { NoIdentityProviderAdmin } from './identity-provider-admin.js';

describe('NoIdentityProviderAdmin', () => {
  it('refuses every request, naming the setting that would allow it', async () => {
    const admin = new NoIdentityProviderAdmin();
    await expect(admin.setUserRole('u', 'resource_admin')).rejects.toThrow(
      new IdentityProviderAdminUnsupportedError('Changing a role'),
    );
    await expect(admin.revokeUserGrants('u')).rejects.toThrow(
      new IdentityProviderAdminUnsupportedError("Ending a user's grants"),
    );
    await expect(admin.revokeUserGrants('u')).rejects.toThrow(/BODHI_AUTH_ADMIN_API/);
  });
});
